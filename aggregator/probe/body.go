package probe

import (
	"errors"
	"fmt"
	"io"
)

// readBody reads the body the framing describes into rd's buffer.
func readBody(rd *reader, f *framing, max int) ([]byte, error) {
	rd.base, rd.out = rd.r, rd.r
	switch {
	case f.code < 200 || f.code == 204 || f.code == 304:
		return nil, nil
	case f.chunked:
		return readChunked(rd, max)
	case f.contentLength >= 0:
		if f.contentLength > int64(max) {
			return nil, bodyTooLarge(max)
		}
		n := int(f.contentLength)
		rd.ensure(n)
		for rd.w-rd.r < n {
			if err := rd.fill(); err != nil {
				return nil, &ioError{phase: phaseReadBody, err: err}
			}
		}
		body := rd.buf[rd.r : rd.r+n]
		rd.r += n
		return body, nil
	default:
		f.close = true
		for {
			if rd.w-rd.r > max {
				return nil, bodyTooLarge(max)
			}
			err := rd.fill()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &ioError{phase: phaseReadBody, err: err}
			}
		}
		body := rd.buf[rd.r:rd.w]
		rd.r = rd.w
		return body, nil
	}
}

func bodyTooLarge(max int) error {
	return &probeError{msg: fmt.Sprintf("body exceeds %d bytes", max), cause: ErrBodyTooLarge}
}

// readChunked decodes a chunked body in place: data is copied down over
// the chunk framing, so the body ends up contiguous in buf[base:out].
func readChunked(rd *reader, max int) ([]byte, error) {
	for {
		l, err := rd.line(chunkLine)
		if err != nil {
			return nil, chunkErr(err, "chunk size line too long")
		}
		size, ok := parseChunkSize(l)
		if !ok {
			return nil, malformed("malformed chunk size %s", clip(l))
		}
		if size == 0 {
			break
		}
		if int64(rd.out-rd.base)+size > int64(max) {
			return nil, bodyTooLarge(max)
		}
		left := int(size)
		for left > 0 {
			if rd.r == rd.w {
				if err := rd.fill(); err != nil {
					return nil, &ioError{phase: phaseReadBody, err: err}
				}
			}
			n := min(left, rd.w-rd.r)
			copy(rd.buf[rd.out:], rd.buf[rd.r:rd.r+n])
			rd.out += n
			rd.r += n
			left -= n
		}
		l, err = rd.line(2)
		if err != nil || len(l) != 0 {
			return nil, chunkErr(err, "missing CRLF after chunk data")
		}
	}
	// Trailers: read and ignore, bounded like headers.
	tb := 0
	for {
		l, err := rd.line(headerLimit - tb)
		if err != nil {
			return nil, chunkErr(err, fmt.Sprintf("trailers exceed %d bytes", headerLimit))
		}
		if len(l) == 0 {
			break
		}
		tb += len(l) + 2
	}
	return rd.buf[rd.base:rd.out], nil
}

func chunkErr(err error, tooLong string) error {
	if err == nil || errors.Is(err, errLineTooLong) || errors.Is(err, errBufferFull) {
		return malformed("malformed chunked body: %s", tooLong)
	}
	return &ioError{phase: phaseReadBody, err: err}
}

// parseChunkSize parses "hex[;ext]" (optionally with spaces before ';').
func parseChunkSize(l []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	for ; i < len(l) && (l[i] == ' ' || l[i] == '\t'); i++ {
	}
	if i < len(l) && l[i] != ';' {
		return 0, false
	}
	return n, true
}
