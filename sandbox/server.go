package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/sockerr"
	"github.com/meshdoctor/meshdoctor/mesh"
	"github.com/meshdoctor/meshdoctor/pki"
)

// Server is a running sandbox.
type Server struct {
	cfg   Config
	url   string
	ln    net.Listener
	http  *http.Server
	store *store
	id    *identity // nil when Plain
	files Files
	// locks are held on --pki-dir and --data-dir while the sandbox runs.
	locks []*dirLock
	done  chan struct{}
	err   error // what Serve returned, once done is closed
}

// Start applies defaults to cfg, opens the store, sets up TLS and listens.
// It returns once the sandbox accepts connections.
func Start(cfg Config) (*Server, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if cfg.hasFault(FaultClockSkew) {
		real := cfg.Now
		now = func() time.Time { return real().Add(ClockSkew) }
	}
	s := &Server{cfg: cfg, done: make(chan struct{})}
	// The directories are this sandbox's while it runs.
	for _, d := range []struct{ dir, what string }{{cfg.PKIDir, "--pki-dir"}, {cfg.DataDir, "--data-dir"}} {
		if d.dir == "" || (len(s.locks) > 0 && sameDir(d.dir, cfg.PKIDir)) {
			continue
		}
		l, err := lockDir(d.dir, d.what)
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.locks = append(s.locks, l)
	}
	started := false
	defer func() {
		if !started {
			s.unlock()
		}
	}()

	var tlsConfig *tls.Config
	if !cfg.Plain {
		first := cfg.Mailboxes[0]
		var err error
		if cfg.PKIDir != "" {
			s.id, err = loadOrCreateIdentity(cfg.PKIDir, first.ID, first.ODSCode)
		} else {
			s.id, err = newIdentity(first.ID, first.ODSCode)
		}
		if err == nil {
			err = s.id.fitClientLifetime(cfg.PKIDir, first, cfg.hasFault(FaultExpiringClient))
		}
		if err != nil {
			return nil, fmt.Errorf("sandbox PKI: %w", err)
		}
		if tlsConfig, err = s.serverTLS(); err != nil {
			return nil, err
		}
	}

	st, err := openStore(cfg.DataDir, cfg.Mailboxes, cfg.Workflows, now)
	if err != nil {
		return nil, fmt.Errorf("open sandbox store: %w", err)
	}
	s.store = st
	st.uploadExpiry = cfg.UploadExpiry
	switch {
	case cfg.UploadExpiry == 0:
		st.uploadExpiry = DefaultUploadExpiry
	case cfg.UploadExpiry < 0:
		st.uploadExpiry = 0
	}
	st.logf = func(format string, args ...any) {
		fmt.Fprintf(logSink(cfg.Log), "sandbox: "+format+"\n", args...)
	}
	for _, why := range st.droppedOnOpen() {
		fmt.Fprintf(logSink(cfg.Log), "sandbox: data dir: dropped %s\n", why)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if sockerr.InUse(err) { // in words, not Winsock's number or Unix's text
		st.Close()
		return nil, fmt.Errorf("listen on %s: address already in use: another program (or another sandbox) listens there", cfg.Listen)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		if cfg.hasFault(FaultReset) {
			ln = &resetListener{Listener: ln}
		} else {
			ln = lingerListener{ln}
		}
		ln = tls.NewListener(ln, tlsConfig)
	}
	s.ln = ln
	s.url = scheme + "://" + urlHost(ln.Addr())

	window := mesh.TokenWindow
	if cfg.AllowStaleTokens {
		window = 0
	}
	api := newAPI(apiOptions{
		SharedKey:       cfg.SharedKey,
		Now:             now,
		TokenWindow:     window,
		SingleUseTokens: !cfg.AllowTokenReuse,
		RejectAllTokens: cfg.hasFault(FaultRejectToken),
		MaxRequestBytes: cfg.MaxRequestBytes,
	}, st)
	s.http = &http.Server{
		Handler:           s.middleware(api, now),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(logSink(cfg.Log), "sandbox: ", 0),
	}

	if cfg.PKIDir != "" && s.id != nil {
		if err := s.writeClientFiles(); err != nil {
			ln.Close()
			st.Close()
			return nil, err
		}
	}
	for _, l := range s.locks {
		l.note(s.url)
	}
	started = true
	go func() {
		s.err = s.http.Serve(ln)
		close(s.done)
	}()
	return s, nil
}

func (s *Server) unlock() {
	for _, l := range s.locks {
		l.release()
	}
	s.locks = nil
}

// sameDir says whether two directory names are one directory.
func sameDir(a, b string) bool {
	if b == "" {
		return false
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

func (c *Config) applyDefaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.SharedKey == "" {
		c.SharedKey = DefaultSharedKey
	}
	if c.Mailboxes == nil {
		c.Mailboxes = DefaultMailboxes()
	}
	if len(c.Mailboxes) == 0 {
		return errors.New("sandbox needs at least one mailbox")
	}
	if c.Workflows == nil {
		c.Workflows = DefaultWorkflows()
	}
	if c.ClientAuth == "" {
		c.ClientAuth = RequireClientCert
	}
	if _, err := ParseClientAuth(string(c.ClientAuth)); err != nil {
		return err
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxRequestBytes < 0 {
		return errors.New("max request size must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if c.Plain && (c.TLSCert != "" || c.ClientCA != "") {
		return errors.New("--plain serves without TLS: it cannot be combined with --tls-cert or --client-ca")
	}
	for _, f := range c.Faults {
		if _, err := ParseFault(string(f)); err != nil {
			return err
		}
		if c.Plain && f != FaultClockSkew && f != FaultRejectToken && f != FaultSlow && f != FaultHTTP500 {
			return fmt.Errorf("fault %s is a TLS fault: it needs TLS (drop --plain)", f)
		}
	}
	return nil
}

// serverTLS builds the TLS configuration the faults ask for.
func (s *Server) serverTLS() (*tls.Config, error) {
	cfg := &s.cfg
	ca := s.id.ca
	leaf := s.id.server
	chain := []*x509.Certificate{ca.SubCA.Cert}
	var err error
	switch {
	case cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		return s.tlsConfig(cert)
	case cfg.hasFault(FaultExpiredServerCert):
		now := time.Now()
		leaf, err = issueServer(ca, now.Add(-2*serverLifetime), now.Add(-24*time.Hour), 0)
	case cfg.hasFault(FaultSHA1ServerCert):
		leaf, err = issueServer(ca, time.Time{}, time.Time{}, x509.SHA1WithRSA)
	case cfg.hasFault(FaultUnknownServerCA):
		var rogue *pki.Hierarchy
		if rogue, err = pki.NewHierarchy(pki.HierarchyOptions{Name: "Unknown"}); err == nil {
			leaf, err = issueServer(rogue, time.Time{}, time.Time{}, 0)
			chain = []*x509.Certificate{rogue.SubCA.Cert}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("issue fault certificate: %w", err)
	}
	if cfg.hasFault(FaultNoIntermediate) {
		chain = nil
	}
	return s.tlsConfig(leaf.TLSCertificate(chain...))
}

func (s *Server) tlsConfig(cert tls.Certificate) (*tls.Config, error) {
	cfg := &s.cfg
	clientCAs := s.id.ca.Pool()
	if cfg.ClientCA != "" {
		pool, err := pki.LoadPool(cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("read --client-ca: %w", err)
		}
		clientCAs = pool
	}
	if cfg.hasFault(FaultUnknownClientCA) {
		other, err := pki.NewHierarchy(pki.HierarchyOptions{Name: "Other"})
		if err != nil {
			return nil, err
		}
		clientCAs = other.Pool()
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	switch cfg.ClientAuth {
	case RequireClientCert:
		t.ClientAuth = tls.RequireAndVerifyClientCert
	case RequestClientCert:
		t.ClientAuth = tls.VerifyClientCertIfGiven
	case NoClientCert:
		t.ClientAuth = tls.NoClientCert
	}
	if cfg.hasFault(FaultTLS10Only) {
		t.MinVersion, t.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
	}
	return t, nil
}

func (s *Server) writeClientFiles() error {
	dir := s.cfg.PKIDir
	join := func(name string) string { return filepath.Join(dir, name) }
	s.files = Files{
		CABundle:       join(fileCA),
		ClientCert:     join(fileClient),
		ClientKey:      join(fileClientKey),
		ClientKeystore: join(fileClientP12),
	}
	first := s.cfg.Mailboxes[0]
	// Relative names: the profile reads them from its own directory, so
	// the directory can be moved or mounted elsewhere. The keystore is
	// what NHS issues to most organisations; the PEM files sit beside it.
	p := mesh.Profile{
		URL:              s.url,
		Mailbox:          first.ID,
		Password:         first.Password,
		SharedKey:        s.cfg.SharedKey,
		Recipient:        first.ID,
		Workflow:         loopbackWorkflow(first.ID, s.cfg.Workflows),
		CABundle:         fileCA,
		Keystore:         fileClientP12,
		KeystorePassword: KeystorePassword,
	}
	path, err := writeProfile(dir, p)
	if err != nil {
		return fmt.Errorf("write sandbox profile: %w", err)
	}
	s.files.Profile = path
	return nil
}

// loopbackWorkflow picks a workflow on which the mailbox may send to
// itself, for the profile: a test that sends to its own mailbox needs no
// other mailbox's credentials.
func loopbackWorkflow(mailbox string, wfs []Workflow) string {
	has := func(list []string) bool {
		for _, m := range list {
			if strings.EqualFold(m, mailbox) {
				return true
			}
		}
		return false
	}
	for _, w := range wfs {
		if has(w.Senders) && has(w.Receivers) {
			return w.ID
		}
	}
	for _, w := range wfs {
		if has(w.Senders) {
			return w.ID
		}
	}
	return "TEST_WORKFLOW"
}

// URL is the sandbox's base URL, e.g. https://127.0.0.1:8700.
func (s *Server) URL() string { return s.url }

// Addr is the address the sandbox listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Files are the client files written to PKIDir (empty without PKIDir).
func (s *Server) Files() Files { return s.files }

// Config is the configuration the sandbox runs with, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// ClientTLSConfig trusts the sandbox's CA and presents the sandbox's client
// certificate; nil for a plain-HTTP sandbox. With --client-ca the sandbox
// trusts other CAs, and this certificate may be refused.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.id == nil {
		return nil
	}
	return s.id.clientTLS()
}

// CAPool is the pool of the sandbox's own root and sub-CA (nil when plain).
func (s *Server) CAPool() *x509.CertPool {
	if s.id == nil {
		return nil
	}
	return s.id.ca.Pool()
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	<-s.done
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	s.unlock()
	return err
}

// Close stops the sandbox at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Done is closed when the sandbox has stopped serving.
func (s *Server) Done() <-chan struct{} { return s.done }

func urlHost(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// middleware adds what every response gets: the server's Date (skewed by
// the clock-skew fault), the slow and http-500 faults, and one log line.
func (s *Server) middleware(next http.Handler, now func() time.Time) http.Handler {
	slow := s.cfg.hasFault(FaultSlow)
	fail := s.cfg.hasFault(FaultHTTP500)
	logw := s.cfg.Log
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		if slow {
			select {
			case <-time.After(SlowDelay):
			case <-r.Context().Done():
			}
		}
		switch {
		case fail && strings.HasPrefix(r.URL.Path, mesh.PathPrefix+"/"):
			// Real MESH has answered internal errors with SOAP XML, not JSON.
			rec.Header().Set("Content-Type", "text/xml")
			rec.WriteHeader(http.StatusInternalServerError)
			io.WriteString(rec, `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Internal Server Error</faultstring></soap:Fault></soap:Body></soap:Envelope>`)
		default:
			next.ServeHTTP(rec, r)
		}
		if logw != nil {
			line := fmt.Sprintf("%s %s %s %s %d %dB %s\n", start.UTC().Format(time.RFC3339), r.RemoteAddr,
				r.Method, r.URL.Path, rec.status, rec.bytes, time.Since(start).Round(time.Microsecond))
			mu.Lock()
			io.WriteString(logw, line)
			mu.Unlock()
		}
	})
}

// recorder notes the status and size of a response for the log line.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy into the response on the fast path.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func logSink(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// resetListener drops every connection once the client has sent its first
// TLS bytes, with a TCP reset: what a client sees when a firewall or a
// misconfigured load balancer cuts the handshake.
type resetListener struct {
	net.Listener
}

func (l *resetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var buf [512]byte
			c.Read(buf[:])
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}()
	}
}

// lingerListener closes connections the way a careful server does: it
// sends FIN and reads what is still arriving for a moment before closing.
// Without it, a client whose certificate was refused may see "connection
// reset" instead of the TLS alert that says why: its request, written
// just after the handshake, reaches a closed socket, and the kernel's reset
// discards the alert still unread on the client's side.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, nil
}

type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

const lingerTime = 2 * time.Second

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if c.CloseWrite() != nil {
			c.TCPConn.Close()
			return
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(lingerTime))
			io.Copy(io.Discard, io.LimitReader(c.TCPConn, 1<<20))
			c.TCPConn.Close()
		}()
	})
	return nil
}
