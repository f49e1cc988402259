package fleet

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The answers are written as net/http's server writes them for the same
// handler: status line, the handler's headers in sorted order, then Date,
// a computed Content-Length and Connection.

// connMode is what a response says about the connection.
type connMode int

const (
	connKeep    connMode = iota // HTTP/1.1 keep-alive: no header
	connKeep10                  // HTTP/1.0 keep-alive: "Connection: keep-alive"
	connClose                   // "Connection: close", then close
	connClose10                 // HTTP/1.0 without keep-alive: no header, then close
)

// closes reports whether the connection ends after the response.
func (m connMode) closes() bool { return m >= connClose }

// modeFor is the connection mode of the answer to h; forceClose when the
// fleet cannot keep the connection (a body it does not skip).
func modeFor(h *reqHead, forceClose bool) connMode {
	switch {
	case h.http10 && h.keepAlive && !forceClose:
		return connKeep10
	case h.http10:
		return connClose10
	case !h.keepAlive || forceClose:
		return connClose
	}
	return connKeep
}

// appendStatusLine appends "HTTP/1.x code text\r\n".
func appendStatusLine(b []byte, http10 bool, code int) []byte {
	if http10 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	return append(b, "\r\n"...)
}

// appendTail appends Date, the Content-Length net/http computes for small
// bodies (clen >= 0), the Connection header and the empty line.
func appendTail(b []byte, date []byte, clen int, mode connMode) []byte {
	b = append(b, "Date: "...)
	b = append(b, date...)
	b = append(b, "\r\n"...)
	if clen >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(clen), 10)
		b = append(b, "\r\n"...)
	}
	switch mode {
	case connKeep10:
		b = append(b, "Connection: keep-alive\r\n"...)
	case connClose:
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendProbeAnswer appends a probe's answer; head omits the body.
func appendProbeAnswer(b []byte, r response, http10, head bool, date []byte, mode connMode) []byte {
	b = appendStatusLine(b, http10, r.code)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.body)), 10)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, r.ctype...)
	b = append(b, "\r\n"...)
	if r.drain {
		b = append(b, "X-Envoy-Immediate-Health-Check-Fail: true\r\n"...)
	}
	b = appendTail(b, date, -1, mode)
	if !head {
		b = append(b, r.body...)
	}
	return b
}

// appendErrorAnswer appends what http.Error writes: a text body with
// nosniff, and for 405 the allowed methods.
func appendErrorAnswer(b []byte, code int, body []byte, http10, head bool, date []byte, mode connMode) []byte {
	b = appendStatusLine(b, http10, code)
	if code == http.StatusMethodNotAllowed {
		b = append(b, "Allow: GET, HEAD\r\n"...)
	}
	b = append(b, "Content-Type: "+ctText+"\r\nX-Content-Type-Options: nosniff\r\n"...)
	b = appendTail(b, date, len(body), mode)
	if !head {
		b = append(b, body...)
	}
	return b
}

// appendRefusal appends net/http's answer to a head it cannot read; the
// connection closes after it.
func appendRefusal(b []byte, err error) []byte {
	public := "400 Bad Request"
	switch err {
	case errBadVersion:
		public = "505 HTTP Version Not Supported: unsupported protocol version"
	case errHeadTooLong:
		public = "431 Request Header Fields Too Large"
	}
	b = append(b, "HTTP/1.1 "...)
	b = append(b, public...)
	b = append(b, "\r\nContent-Type: "+ctText+"\r\nConnection: close\r\n\r\n"...)
	return append(b, public...)
}

// dateStamp is an HTTP Date header value for one second.
type dateStamp struct {
	sec  int64
	text []byte
}

// dateCache formats the Date header at most once a second for the fleet.
type dateCache struct{ p atomic.Pointer[dateStamp] }

// get returns the Date value for now; callers must not modify it.
func (c *dateCache) get(now time.Time) []byte {
	sec := now.Unix()
	if d := c.p.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateStamp{sec: sec, text: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
	c.p.Store(d)
	return d.text
}
