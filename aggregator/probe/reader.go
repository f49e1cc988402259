package probe

import (
	"bytes"
	"errors"
	"io"
)

// Buffer sizing. The read buffer lives in Scratch, not in the checker, so
// idle connections hold no buffer.
const (
	initialBuf  = 4 << 10
	headerLimit = 16 << 10 // status line + headers (+ interim responses)
	chunkLine   = 4 << 10  // one chunk-size line with extensions
	bufSlack    = 8 << 10  // room for chunk framing beyond the body
)

var (
	errLineTooLong = errors.New("line too long")
	errBufferFull  = errors.New("read buffer full")
)

// reader reads one response from src into a single buffer borrowed from
// Scratch. Its layout is buf[base:out] decoded body (chunked only), then
// a gap of consumed bytes, then buf[r:w] read but not yet consumed:
// base <= out <= r <= w <= len(buf). Compaction moves the body to the
// front and the unread bytes right after it; growth doubles up to limit.
type reader struct {
	src   io.Reader // the connection, or bytes already read from it
	buf   []byte
	base  int
	out   int
	r, w  int
	limit int
	total int // bytes read from conn
}

func (rd *reader) reset(src io.Reader, buf []byte, maxBody int) {
	if cap(buf) < initialBuf {
		buf = make([]byte, initialBuf)
	}
	*rd = reader{src: src, buf: buf[:cap(buf)], limit: maxBody + headerLimit + bufSlack}
}

// prefill puts bytes already read from the connection in front of what
// the reader reads next.
func (rd *reader) prefill(b []byte) {
	rd.ensure(len(b))
	rd.w += copy(rd.buf[rd.w:], b)
	rd.total += len(b)
}

// unread is how many bytes were read past what the parse consumed.
func (rd *reader) unread() int { return rd.w - rd.r }

// fill reads more bytes into buf[w:], compacting or growing first when the
// buffer is full. It returns nil when at least one byte arrived.
func (rd *reader) fill() error {
	if rd.w == len(rd.buf) {
		rd.compact()
	}
	if rd.w == len(rd.buf) {
		if len(rd.buf) >= rd.limit {
			return errBufferFull
		}
		n := min(2*len(rd.buf), rd.limit)
		nb := make([]byte, n)
		copy(nb, rd.buf[:rd.w])
		rd.buf = nb
	}
	for range 100 {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		rd.total += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// compact drops consumed bytes: the decoded body moves to buf[0:] and the
// unread bytes right after it.
func (rd *reader) compact() {
	if rd.base == 0 && rd.out == rd.r {
		return
	}
	body := copy(rd.buf, rd.buf[rd.base:rd.out])
	unread := copy(rd.buf[body:], rd.buf[rd.r:rd.w])
	rd.base, rd.out, rd.r, rd.w = 0, body, body, body+unread
}

// ensure makes room for n bytes from r on: buf must hold buf[r:r+n].
func (rd *reader) ensure(n int) {
	if rd.r+n <= len(rd.buf) {
		return
	}
	rd.compact()
	if rd.r+n <= len(rd.buf) {
		return
	}
	size := len(rd.buf)
	for size < rd.r+n {
		size *= 2
	}
	nb := make([]byte, size)
	copy(nb, rd.buf[:rd.w])
	rd.buf = nb
}

// line returns the next line without its CR LF (or bare LF), reading as
// needed. A line longer than max is errLineTooLong. The slice is valid
// until the next fill.
func (rd *reader) line(max int) ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(rd.buf[rd.r+scanned:rd.w], '\n'); i >= 0 {
			end := rd.r + scanned + i
			if end-rd.r > max {
				return nil, errLineTooLong
			}
			l := rd.buf[rd.r:end]
			rd.r = end + 1
			if n := len(l); n > 0 && l[n-1] == '\r' {
				l = l[:n-1]
			}
			return l, nil
		}
		scanned = rd.w - rd.r
		if scanned > max {
			return nil, errLineTooLong
		}
		if err := rd.fill(); err != nil {
			return nil, err
		}
	}
}
