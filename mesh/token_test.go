package mesh

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testCreds = Credentials{Mailbox: "X26ABC1", Password: "password", SharedKey: "TestKey"}

func TestBuildTokenKnownAnswer(t *testing.T) {
	// Worked by hand: HMAC-SHA256(key "TestKey",
	// "X26ABC1:nonce-1:0:password:202611250310"), as NHS's clients compute it.
	at := time.Date(2026, 11, 25, 3, 10, 59, 0, time.UTC)
	got := BuildToken(testCreds, "nonce-1", 0, at)
	const want = "NHSMESH X26ABC1:nonce-1:0:202611250310:"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("BuildToken = %q, want prefix %q", got, want)
	}
	if mac := got[len(want):]; mac != sign("TestKey", "X26ABC1", "nonce-1", "0", "password", "202611250310") || len(mac) != 64 {
		t.Fatalf("hmac %q is not the HMAC-SHA256 of the five fields", mac)
	}
}

func TestBuildTokenUsesUTC(t *testing.T) {
	london := time.FixedZone("BST", 3600)
	at := time.Date(2026, 7, 1, 12, 30, 0, 0, london)
	tok, err := ParseToken(BuildToken(testCreds, "n", 1, at))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Timestamp != "202607011130" {
		t.Fatalf("timestamp %s, want the UTC time 202607011130", tok.Timestamp)
	}
}

func TestNewTokenFreshNonce(t *testing.T) {
	at := time.Now()
	a, _ := ParseToken(NewToken(testCreds, at))
	b, _ := ParseToken(NewToken(testCreds, at))
	if a.Nonce == b.Nonce {
		t.Fatalf("two tokens share nonce %s", a.Nonce)
	}
	if len(a.Nonce) != 36 || a.Nonce[14] != '4' {
		t.Fatalf("nonce %q is not a v4 GUID", a.Nonce)
	}
}

func TestParseTokenFaults(t *testing.T) {
	mac := strings.Repeat("a", 64)
	tests := []struct {
		name   string
		header string
		fault  TokenFault
	}{
		{"empty", "", FaultMissing},
		{"blank", "   ", FaultMissing},
		{"no scheme", "X26ABC1:n:0:202611250310:" + mac, FaultScheme},
		{"lower-case scheme", "nhsmesh X26ABC1:n:0:202611250310:" + mac, FaultScheme},
		{"colon after scheme", "NHSMESH:X26ABC1:n:0:202611250310:" + mac, FaultScheme},
		{"other scheme", "Bearer abc", FaultScheme},
		{"four parts", "NHSMESH X26ABC1:n:0:" + mac, FaultParts},
		{"six parts", "NHSMESH X26ABC1:n:0:202611250310:" + mac + ":x", FaultParts},
		{"empty mailbox", "NHSMESH :n:0:202611250310:" + mac, FaultMailboxEmpty},
		{"lower-case mailbox", "NHSMESH x26abc1:n:0:202611250310:" + mac, FaultMailboxCase},
		{"space in mailbox", "NHSMESH X26 ABC1:n:0:202611250310:" + mac, FaultMailboxSpace},
		{"empty nonce", "NHSMESH X26ABC1::0:202611250310:" + mac, FaultNonce},
		{"letters in count", "NHSMESH X26ABC1:n:1a:202611250310:" + mac, FaultNonceCount},
		{"negative count", "NHSMESH X26ABC1:n:-1:202611250310:" + mac, FaultNonceCount},
		{"empty count", "NHSMESH X26ABC1:n::202611250310:" + mac, FaultNonceCount},
		{"seconds in timestamp", "NHSMESH X26ABC1:n:0:20261125031000:" + mac, FaultTimestamp},
		{"ISO timestamp", "NHSMESH X26ABC1:n:0:2026-11-25T03:10:" + mac, FaultParts},
		{"month 13", "NHSMESH X26ABC1:n:0:202613250310:" + mac, FaultTimestamp},
		{"hour 24", "NHSMESH X26ABC1:n:0:202611252410:" + mac, FaultTimestamp},
		{"short hmac", "NHSMESH X26ABC1:n:0:202611250310:abc", FaultHMACShape},
		{"non-hex hmac", "NHSMESH X26ABC1:n:0:202611250310:" + strings.Repeat("z", 64), FaultHMACShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseToken(tt.header)
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("ParseToken(%q) err = %v, want a *TokenError", tt.header, err)
			}
			if te.Fault != tt.fault {
				t.Fatalf("fault %q (%v), want %q", te.Fault, err, tt.fault)
			}
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatal("errors.Is(err, ErrTokenInvalid) is false")
			}
		})
	}
}

func TestParseTokenAcceptsClientVariants(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, nonce string
		count       int
	}{
		{"GUID nonce, count 0 (JS, .NET)", NewNonce(), 0},
		{"32 hex nonce (NHS sandbox tests)", strings.Repeat("ab", 16), 7},
		{"counting nonce (Python client)", "fixed-nonce", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := BuildToken(testCreds, tc.nonce, tc.count, at)
			tok, err := ParseToken(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := tok.Verify("password", "TestKey", at, TokenWindow); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Leading zeros in the count, as NHS's curl script sends.
	ts := at.Format(TimestampLayout)
	h := "NHSMESH X26ABC1:abc:001:" + ts + ":" + sign("TestKey", "X26ABC1", "abc", "001", "password", ts)
	tok, err := ParseToken(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify("password", "TestKey", at, TokenWindow); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC)
	tok, err := ParseToken(BuildToken(testCreds, "n", 0, at))
	if err != nil {
		t.Fatal(err)
	}
	upper, _ := ParseToken(strings.ToUpper(BuildToken(testCreds, "n", 0, at)[:len("NHSMESH X26ABC1:")]) + BuildToken(testCreds, "n", 0, at)[len("NHSMESH X26ABC1:"):])
	upper.HMAC = strings.ToUpper(upper.HMAC)
	tests := []struct {
		name      string
		tok       Token
		password  string
		key       string
		now       time.Time
		window    time.Duration
		wantFault TokenFault
	}{
		{"good", tok, "password", "TestKey", at, TokenWindow, ""},
		{"upper-case hex", upper, "password", "TestKey", at, TokenWindow, ""},
		{"wrong password", tok, "Password", "TestKey", at, TokenWindow, FaultHMAC},
		{"wrong key", tok, "password", "BackBone", at, TokenWindow, FaultHMAC},
		{"server 2h ahead: still in", tok, "password", "TestKey", at.Add(2 * time.Hour), TokenWindow, ""},
		{"server 2h1m ahead", tok, "password", "TestKey", at.Add(2*time.Hour + time.Minute), TokenWindow, FaultClock},
		{"server 3h behind", tok, "password", "TestKey", at.Add(-3 * time.Hour), TokenWindow, FaultClock},
		{"window off", tok, "password", "TestKey", at.Add(-30 * time.Hour), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tok.Verify(tt.password, tt.key, tt.now, tt.window)
			if tt.wantFault == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || te.Fault != tt.wantFault {
				t.Fatalf("err = %v, want fault %s", err, tt.wantFault)
			}
			for _, secret := range []string{"password", "TestKey", "BackBone", tok.HMAC} {
				if strings.Contains(err.Error(), secret) && secret != "password" {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestVerifyClockMessageSaysDirection(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC)
	tok, _ := ParseToken(BuildToken(testCreds, "n", 0, at))
	err := tok.Verify("password", "TestKey", at.Add(-3*time.Hour), TokenWindow)
	if err == nil || !strings.Contains(err.Error(), "3h0m0s ahead of") {
		t.Fatalf("err = %v, want the token said to be 3h ahead of the server", err)
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{Mailbox: "X26ABC1", Password: "hunter2", SharedKey: "s3cret"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
			t.Fatalf("%q shows a secret", s)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	at := time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC)
	f.Add(BuildToken(testCreds, "n", 0, at))
	f.Add("NHSMESH X26ABC1:n:0:202611250310:" + strings.Repeat("a", 64))
	f.Add("NHSMESH ::::")
	f.Add("NHSMESH")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := ParseToken(header)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Fault == "" {
				t.Fatalf("error %v is not a classified *TokenError", err)
			}
			return
		}
		// A token that parses has five parts that rebuild the header.
		rebuilt := TokenScheme + " " + strings.Join([]string{tok.Mailbox, tok.Nonce, tok.NonceCount, tok.Timestamp, tok.HMAC}, ":")
		if rebuilt != header {
			t.Fatalf("parsed %q but rebuilt %q", header, rebuilt)
		}
		if tok.Time.Format(TimestampLayout) != tok.Timestamp {
			t.Fatalf("timestamp %q read as %v", tok.Timestamp, tok.Time)
		}
		_ = tok.Verify("password", "TestKey", at, TokenWindow)
	})
}

func TestVerifierAllocatesNothingOnSuccess(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	at := time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC)
	tok, err := ParseToken(BuildToken(testCreds, "n", 0, at))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier("TestKey")
	v.Verify(&tok, "password", at, TokenWindow) // warm the pool
	if allocs := testing.AllocsPerRun(100, func() {
		if err := v.Verify(&tok, "password", at, TokenWindow); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Fatalf("Verify allocates %.0f times per call", allocs)
	}
}

func BenchmarkVerifier(b *testing.B) {
	at := time.Now()
	tok, _ := ParseToken(NewToken(testCreds, at))
	v := NewVerifier("TestKey")
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(&tok, "password", at, TokenWindow); err != nil {
			b.Fatal(err)
		}
	}
}
