package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFiles is the dashboard: plain HTML, CSS and JavaScript, no build
// step and nothing loaded from elsewhere, so it works offline.
//
//go:embed web
var webFiles embed.FS

// webHandler serves the dashboard with a strict content security policy.
func webHandler() http.Handler {
	root, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree always holds web/
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
