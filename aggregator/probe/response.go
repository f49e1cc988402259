package probe

import (
	"bytes"
	"errors"
	"fmt"
)

// ioError is an I/O failure while reading a response; the caller turns it
// into text (it knows the deadline) and decides on a stale-connection retry.
type ioError struct {
	phase string
	err   error
}

func (e *ioError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// framing is what the headers of one response say about its body.
type framing struct {
	code          int
	close         bool // close the connection after this response
	chunked       bool
	untilClose    bool // Transfer-Encoding without chunked: body ends at close
	contentLength int64
}

var httpPrefix = []byte("HTTP/")

// readResponse reads one response (skipping 1xx interim ones) into resp
// and reports whether the connection may be reused.
func (c *httpChecker) readResponse(rd *reader, req *Request, resp *Response) (keep bool, err error) {
	hb := 0 // header bytes so far, across interim responses
	var f framing
	for {
		f, err = c.readHead(rd, req, resp, &hb)
		if err != nil {
			return false, err
		}
		if f.code >= 200 || f.code == 101 {
			break
		}
		// 1xx interim: forget what it said and read the next head.
		resp.ContentType, resp.Location, resp.ImmediateFail, resp.Headers = "", "", false, nil
	}
	resp.StatusCode = f.code
	body, err := readBody(rd, &f, req.maxBody)
	if err != nil {
		return false, err
	}
	resp.Body = body
	// keep: the server lets the connection serve another request. Bytes
	// read past the body (rd.unread) are the caller's to judge: the answer
	// to a pipelined request, or a confused server.
	return !f.close, nil
}

// readHead reads a status line and headers. hb counts header bytes.
func (c *httpChecker) readHead(rd *reader, req *Request, resp *Response, hb *int) (framing, error) {
	f := framing{contentLength: -1}
	line, err := statusLine(rd, hb)
	if err != nil {
		return f, err
	}
	code, minor, ok := parseStatusLine(line)
	if !ok {
		return f, malformed("malformed status line %s", clip(line))
	}
	f.code = code
	f.close = minor == 0
	if req.collectHeaders {
		resp.Headers = make(map[string]string, 8)
		if c.names == nil {
			c.names = make(nameCache)
		}
	}
	var seenCL, teSet bool
	for {
		left := headerLimit - *hb
		line, err := rd.line(left)
		if err != nil {
			if errors.Is(err, errLineTooLong) || errors.Is(err, errBufferFull) {
				return f, headersTooLarge()
			}
			return f, &ioError{phase: "read response", err: err}
		}
		*hb += len(line) + 2
		if *hb > headerLimit {
			return f, headersTooLarge()
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return f, malformed("malformed header: obsolete line folding %s", clip(line))
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !isToken(line[:i]) {
			return f, malformed("malformed header line %s", clip(line))
		}
		name, value := line[:i], trimOWS(line[i+1:])
		switch {
		case foldEq(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (seenCL && n != f.contentLength) {
				return f, malformed("malformed Content-Length %s", clip(value))
			}
			seenCL, f.contentLength = true, n
		case foldEq(name, "transfer-encoding"):
			teSet = true
			f.chunked = lastTokenIs(value, "chunked")
		case foldEq(name, "connection"):
			if hasToken(value, "close") {
				f.close = true
			}
		case foldEq(name, "content-type"):
			resp.ContentType = c.lastContentType.get(value)
		case foldEq(name, "location"):
			if code >= 300 && code < 400 {
				resp.Location = c.lastLocation.get(value)
			}
		case foldEq(name, "x-envoy-immediate-health-check-fail"):
			resp.ImmediateFail = true
		}
		if resp.Headers != nil {
			lowerASCII(name)
			key := c.names.get(name)
			if prev, dup := resp.Headers[key]; dup {
				resp.Headers[key] = prev + ", " + string(value)
			} else {
				resp.Headers[key] = string(value)
			}
		}
	}
	if teSet && !f.chunked {
		// A transfer coding we cannot decode: the body runs to close.
		f.untilClose, f.close = true, true
	}
	if teSet && seenCL {
		// Both framings: Transfer-Encoding wins, but the message is suspect.
		f.contentLength, f.close = -1, true
	}
	return f, nil
}

func headersTooLarge() error {
	return &probeError{msg: fmt.Sprintf("response headers exceed %d bytes", headerLimit), cause: errMalformed}
}

// statusLine skips blank lines, rejects a response that does not start
// with "HTTP/" as soon as the first bytes arrive, and returns the line.
func statusLine(rd *reader, hb *int) ([]byte, error) {
	for {
		for rd.r < rd.w && (rd.buf[rd.r] == '\r' || rd.buf[rd.r] == '\n') {
			rd.r++
			*hb++
		}
		avail := rd.buf[rd.r:rd.w]
		n := min(len(avail), len(httpPrefix))
		if !bytes.Equal(avail[:n], httpPrefix[:n]) {
			if i := bytes.IndexByte(avail, '\n'); i >= 0 {
				avail = avail[:i]
			}
			return nil, malformed("malformed status line %s: not an HTTP/1.x response", clip(avail))
		}
		if bytes.IndexByte(avail, '\n') >= 0 {
			break
		}
		if *hb+len(avail) > headerLimit {
			return nil, headersTooLarge()
		}
		if err := rd.fill(); err != nil {
			return nil, &ioError{phase: "read response", err: err}
		}
	}
	line, err := rd.line(headerLimit - *hb)
	if err != nil {
		return nil, headersTooLarge()
	}
	*hb += len(line) + 2
	return line, nil
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]".
func parseStatusLine(l []byte) (code, minor int, ok bool) {
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || !isDigit(l[7]) || l[8] != ' ' {
		return 0, 0, false
	}
	if len(l) > 12 && l[12] != ' ' {
		return 0, 0, false
	}
	for _, c := range l[9:12] {
		if !isDigit(c) {
			return 0, 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, 0, false
	}
	return code, int(l[7] - '0'), true
}
