package fleet

import (
	"bytes"
	"errors"
	"net/url"
)

// Limits of a request head, as net/http's server applies them: the header
// budget plus its 4 KiB of slack for the request line.
const (
	maxHeaderBytes = 16 << 10
	maxHeadBytes   = maxHeaderBytes + 4096
	// maxSkipBody is the largest request body skipped to keep a connection;
	// a larger one closes it after the answer, as net/http does.
	maxSkipBody = 256 << 10
)

// Why a request head is refused; each has its own answer.
var (
	errBadRequest  = errors.New("fleet: malformed request")
	errBadVersion  = errors.New("fleet: unsupported HTTP version")
	errHeadTooLong = errors.New("fleet: request head too large")
)

// reqHead is what the fleet needs of one request head.
type reqHead struct {
	method    []byte // aliases the read buffer
	path      []byte // decoded URL path; aliases the read buffer unless decoded
	http10    bool
	keepAlive bool  // the connection stays open after the answer
	bodyLen   int64 // Content-Length (0 if absent)
	chunked   bool
	expect100 bool
}

// parseHead parses the request head at the start of b. n is its length
// including the empty line; n == 0 with a nil error means the head is not
// complete yet. Lines may end in CRLF or a bare LF.
func parseHead(b []byte) (h reqHead, n int, err error) {
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		if len(b) >= maxHeadBytes {
			return h, 0, errHeadTooLong
		}
		return h, 0, nil
	}
	if err := h.parseRequestLine(trimCR(b[:eol])); err != nil {
		return h, 0, err
	}
	h.keepAlive = !h.http10
	clSeen := false
	pos := eol + 1
	for {
		eol := bytes.IndexByte(b[pos:], '\n')
		if eol < 0 {
			if len(b) >= maxHeadBytes {
				return h, 0, errHeadTooLong
			}
			return h, 0, nil
		}
		line := trimCR(b[pos : pos+eol])
		pos += eol + 1
		if pos > maxHeadBytes {
			return h, 0, errHeadTooLong
		}
		if len(line) == 0 {
			return h, pos, nil
		}
		if line[0] == ' ' || line[0] == '\t' { // obsolete line folding
			return h, 0, errBadRequest
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
			return h, 0, errBadRequest
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl, ok := parseLength(value)
			if !ok || clSeen && cl != h.bodyLen {
				return h, 0, errBadRequest
			}
			h.bodyLen, clSeen = cl, true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = true // any coding: the body's length is unknown
		case bytes.EqualFold(name, []byte("Connection")):
			h.connection(value)
		case bytes.EqualFold(name, []byte("Expect")):
			h.expect100 = bytes.EqualFold(value, []byte("100-continue"))
		}
	}
}

// parseRequestLine reads "METHOD target HTTP/1.x".
func (h *reqHead) parseRequestLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequest
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadRequest
	}
	h.method = line[:sp1]
	target, proto := rest[:sp2], rest[sp2+1:]
	for _, c := range h.method {
		if c <= ' ' || c >= 0x7f {
			return errBadRequest
		}
	}
	switch {
	case string(proto) == "HTTP/1.1":
	case string(proto) == "HTTP/1.0":
		h.http10 = true
	case len(proto) == 8 && string(proto[:7]) == "HTTP/1." && proto[7] >= '0' && proto[7] <= '9':
	case len(proto) > 5 && string(proto[:5]) == "HTTP/":
		return errBadVersion
	default:
		return errBadRequest
	}
	path, err := requestPath(target)
	h.path = path
	return err
}

// requestPath is the decoded path of a request target, like net/http's
// Request.URL.Path; "*" has none.
func requestPath(target []byte) ([]byte, error) {
	if len(target) > 0 && target[0] == '/' {
		if q := bytes.IndexByte(target, '?'); q >= 0 {
			target = target[:q]
		}
		if bytes.IndexByte(target, '%') < 0 {
			return target, nil
		}
	}
	if string(target) == "*" {
		return nil, nil
	}
	u, err := url.ParseRequestURI(string(target))
	if err != nil {
		return nil, errBadRequest
	}
	return []byte(u.Path), nil
}

// connection applies a Connection header's tokens.
func (h *reqHead) connection(v []byte) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.TrimSpace(tok)
		switch {
		case bytes.EqualFold(tok, []byte("close")):
			h.keepAlive = false
		case bytes.EqualFold(tok, []byte("keep-alive")) && h.http10:
			h.keepAlive = true
		}
	}
}

// parseLength reads a Content-Length value: decimal digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
