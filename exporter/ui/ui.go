package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

// Path is where Handler expects to be mounted: mux.Handle("GET "+ui.Path,
// ui.Handler()).
const Path = "/ui/"

//go:embed static
var static embed.FS

// csp allows only the page's own script, stylesheet and API calls, and no
// framing (the page has buttons that change breakers).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page below Path: the page at Path itself, its assets
// next to it. Requests for Path without the trailing slash are redirected.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil { // the embedded directory exists: cannot happen
		panic(err)
	}
	files := http.StripPrefix(Path, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == Path[:len(Path)-1] {
			http.Redirect(w, r, Path, http.StatusMovedPermanently)
			return
		}
		files.ServeHTTP(w, r)
	})
}
