package seedtest

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is a real TCP server that answers every HTTP/1.1 request on a
// keep-alive connection with the raw bytes of its current response.
type Server struct {
	ln       net.Listener
	mu       sync.Mutex
	raw      []byte
	requests atomic.Int64
	accepts  atomic.Int64
	batched  atomic.Int64
	wg       sync.WaitGroup
	conns    sync.Map
}

// NewServer starts a server on a free loopback port answering with r. It
// stops when the test ends.
func NewServer(t testing.TB, r Response) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("seedtest: listen: %v", err)
	}
	s := &Server{ln: ln, raw: r.Raw()}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Set changes the response for the following requests.
func (s *Server) Set(r Response) { s.SetRaw(r.Raw()) }

// SetRaw changes the response to arbitrary bytes (garbage included).
func (s *Server) SetRaw(raw []byte) {
	s.mu.Lock()
	s.raw = raw
	s.mu.Unlock()
}

// Requests is how many requests were answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Batched is how many requests arrived in the same read as the one before
// them on their connection (pipelined, sent together).
func (s *Server) Batched() int64 { return s.batched.Load() }

// Accepts is how many connections were accepted.
func (s *Server) Accepts() int64 { return s.accepts.Load() }

// Close stops the server and closes its connections.
func (s *Server) Close() {
	// Stopping is the point: a failed close has nothing left to lose.
	_ = s.ln.Close()
	s.conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.conns.Store(c, true)
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer s.wg.Done()
	defer s.conns.Delete(c)
	defer c.Close() //nolint:errcheck // the conversation is over: nothing to lose
	br := bufio.NewReader(c)
	for {
		// Read one request head (probes send no body).
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
		if br.Buffered() > 0 {
			s.batched.Add(1)
		}
		s.mu.Lock()
		raw := s.raw
		s.mu.Unlock()
		s.requests.Add(1)
		if _, err := c.Write(raw); err != nil {
			return
		}
	}
}
