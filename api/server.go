package api

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/replicas"
)

// Inspector is what the API needs from the aggregator beyond the store:
// per-instance probe details and manual drains. Both return
// membership.ErrNotFound for an unknown cluster or instance.
type Inspector interface {
	Instance(cluster, id string) (membership.InstanceDetail, error)
	SetOverride(cluster, id string, o *membership.Override) error
}

// Options configure a Server. Store is required.
type Options struct {
	Store      *membership.Store
	Aggregator Inspector     // nil: no probe details, drains answer 503
	Overrides  OverrideStore // nil: drains are not persisted
	// Replicas, when vigil runs as a replica: GET /api/v1/replicas, each
	// replica's verdict in the instance view, and the verdict stream the
	// peers read (replicas.DefaultStreamPath). nil: one vigil.
	Replicas Replicas
	// Token is the bearer token of mutating calls. Empty: they are refused
	// with 403 while read-only calls stay open.
	Token string
	// Reload re-reads the config for POST /api/v1/reload. Nil: 501.
	Reload  func() error
	Metrics prometheus.Gatherer // served at /metrics; nil: 404
	Logger  *slog.Logger        // nil: slog.Default()
	Version string              // vigil's version, shown in the summary
	// Heartbeat is the period of SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// Now is the clock used for overrides and uptime (default time.Now).
	Now func() time.Time
}

// Server is the admin HTTP API. Create it with New, serve Handler, and
// call Close when the HTTP server shuts down so event streams end.
type Server struct {
	opts      Options
	log       *slog.Logger
	started   time.Time
	mux       *http.ServeMux
	ready     readiness
	tokenHash [sha256.Size]byte
	done      chan struct{}
	closeOnce sync.Once
}

// New builds a Server and its routes.
func New(opts Options) *Server {
	if opts.Store == nil {
		panic("api.New: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger.With("component", "api"),
		started: opts.Now(),
		mux:     http.NewServeMux(),
		done:    make(chan struct{}),
	}
	if opts.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(opts.Token))
	}
	s.routes()
	return s
}

// Handler is the root handler of the admin listener.
func (s *Server) Handler() http.Handler { return s.mux }

// Close ends every open event stream. It is safe to call more than once;
// register it with http.Server.RegisterOnShutdown.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.handleReadyz)
	if s.opts.Metrics != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Metrics, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		}))
	}

	m.HandleFunc("GET /api/v1/summary", s.handleSummary)
	m.HandleFunc("GET /api/v1/clusters", s.handleClusters)
	m.HandleFunc("GET /api/v1/clusters/{name}", s.handleCluster)
	m.HandleFunc("GET /api/v1/clusters/{name}/instances/{id}", s.handleInstance)
	m.HandleFunc("GET /api/v1/events", s.handleEvents)
	m.HandleFunc("GET /api/v1/events/stream", s.handleStream)
	m.HandleFunc("GET /api/v1/replicas", s.handleReplicas)
	if s.opts.Replicas != nil {
		m.Handle("GET "+replicas.DefaultStreamPath, s.opts.Replicas.Handler())
	}

	m.HandleFunc("POST /api/v1/clusters/{name}/instances/{id}/drain", s.requireToken(s.handleDrainInstance))
	m.HandleFunc("POST /api/v1/clusters/{name}/instances/{id}/undrain", s.requireToken(s.handleUndrainInstance))
	m.HandleFunc("POST /api/v1/clusters/{name}/drain", s.requireToken(s.handleDrainCluster))
	m.HandleFunc("POST /api/v1/clusters/{name}/undrain", s.requireToken(s.handleUndrainCluster))
	m.HandleFunc("POST /api/v1/reload", s.requireToken(s.handleReload))

	m.HandleFunc("GET /api/", s.handleNoRoute)
	m.Handle("GET /", webHandler())
	m.HandleFunc("/", s.handleNoRoute) // any other method on any path
}
