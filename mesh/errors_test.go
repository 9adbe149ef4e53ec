package mesh

import (
	"fmt"
	"strings"
	"testing"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name                   string
		status                 int
		body                   string
		event, code, desc, msg string
		auth                   bool
	}{
		{"v1 business", 417, `{"messageID":"20200529155357895317_3573F8","errorEvent":"SEND","errorCode":"12","errorDescription":"Unregistered to address"}`,
			"SEND", "12", "Unregistered to address", "20200529155357895317_3573F8", false},
		{"v2 business", 417, `{"message_id":"X","detail":[{"event":"SEND","code":"02","msg":"Data file is missing or inaccessible."}]}`,
			"SEND", "02", "Data file is missing or inaccessible.", "X", false},
		{"v1 auth", 403, `{"errorEvent":"","errorCode":"","errorDescription":"Invalid Authentication Token"}`,
			"", "", "Invalid Authentication Token", "", true},
		{"v2 auth", 403, `{"detail":[{"event":"","code":"","msg":"Invalid Authentication Token"}]}`,
			"", "", "Invalid Authentication Token", "", true},
		{"unknown mailbox", 403, `{"errorEvent":"SEND","errorCode":"EPL-151","errorDescription":"No mailbox matched"}`,
			"SEND", "EPL-151", "No mailbox matched", "", true},
		{"validation", 400, `{"detail":[{"loc":["header","mex-clientversion"],"msg":"field required","type":"value_error.missing"}]}`,
			"", "", `field required ["header","mex-clientversion"]`, "", false},
		{"FastAPI string", 404, `{"detail":"Not Found"}`, "", "", "Not Found", "", false},
		{"generic", 500, `{"message":"An internal error occurred.\n\nPlease contact support."}`, "", "", "An internal error occurred. Please contact support.", "", false},
		{"numeric code", 417, `{"errorEvent":"SEND","errorCode":12,"errorDescription":"Unregistered to address"}`,
			"SEND", "12", "Unregistered to address", "", false},
		{"numeric one-digit code", 417, `{"detail":[{"event":"COLLECT","code":2,"msg":"missing"}]}`,
			"COLLECT", "02", "missing", "", false},
		{"empty 403", 403, ``, "", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := DecodeError("POST", "/messageexchange/X26ABC1/outbox", tt.status, []byte(tt.body))
			if e.Event != tt.event || e.Code != tt.code || e.Description != tt.desc || e.MessageID != tt.msg {
				t.Fatalf("got %+v", e)
			}
			if e.IsAuth() != tt.auth {
				t.Fatalf("IsAuth = %v", e.IsAuth())
			}
			if !strings.Contains(e.Error(), fmt.Sprint(tt.status)) {
				t.Fatalf("Error() %q lacks the status", e.Error())
			}
		})
	}
}

func TestDecodeErrorNonJSON(t *testing.T) {
	xml := "<soap:Envelope>\n  <soap:Body><soap:Fault>internal</soap:Fault></soap:Body>\n</soap:Envelope>"
	e := DecodeError("GET", "/messageexchange/X26ABC1/inbox", 500, []byte(xml))
	if e.Body == "" || strings.Contains(e.Body, "\n") {
		t.Fatalf("Body %q: want the XML on one line", e.Body)
	}
	long := DecodeError("GET", "/", 502, []byte(strings.Repeat("<html>", 500)))
	if len(long.Body) > 210 {
		t.Fatalf("body not trimmed: %d bytes", len(long.Body))
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &APIError{Method: "POST", Path: "/messageexchange/X26ABC1/outbox", StatusCode: 417, Event: "SEND", Code: "12", Description: "Unregistered to address"}
	want := "POST /messageexchange/X26ABC1/outbox: 417 Expectation Failed (SEND code 12): Unregistered to address [the recipient mailbox is not registered]"
	if e.Error() != want {
		t.Fatalf("got  %q\nwant %q", e.Error(), want)
	}
	if !(&APIError{StatusCode: 503}).Temporary() || (&APIError{StatusCode: 500}).Temporary() {
		t.Fatal("Temporary: 503 is, 500 is not")
	}
}
