package proxytest

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// Forwarder passes every TCP connection made to Addr on to another address,
// counting them (how many connections a client really opened) and holding
// each for Delay nanoseconds first (a slow path). Loopback only.
type Forwarder struct {
	Addr  string
	Total atomic.Int64
	Delay atomic.Int64
	ln    net.Listener
}

// Forward starts a Forwarder to the address to; Close stops it (open
// connections end when either side closes).
func Forward(to string) (*Forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Forwarder{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.Total.Add(1)
			go f.pass(c, to)
		}
	}()
	return f, nil
}

func (f *Forwarder) pass(c net.Conn, to string) {
	defer c.Close()
	time.Sleep(time.Duration(f.Delay.Load()))
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	<-done
}

// Close stops accepting connections.
func (f *Forwarder) Close() error { return f.ln.Close() }
