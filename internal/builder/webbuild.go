package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/oci"
	"github.com/navius-dev/navius/internal/serverimage"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// cacheKey names a result by everything that makes its bytes: navius's
// version and revision (with a dirty tree's changes), the features, the
// catalog modules with their versions (a local copy by its content), the
// platform, the artefact and SOURCE_DATE_EPOCH.
func (s *webServer) cacheKey(sel *selection, platform, artifact string) string {
	version := s.t.version()
	k := struct {
		Version, Revision, Changes, Platform, Artifact, SourceDate string
		Features, Modules                                          []string
	}{Version: version, Revision: s.t.revision(), Platform: platform, Artifact: artifact,
		SourceDate: os.Getenv("SOURCE_DATE_EPOCH"), Features: sel.sel.Features}
	if s.t.fetched == nil && (strings.HasSuffix(version, "-dirty") || k.Revision == "") {
		k.Changes = sha256Hex([]byte(s.t.git("diff", "HEAD") + s.t.git("status", "--porcelain")))
	}
	for _, cm := range sel.mods {
		k.Modules = append(k.Modules, cm.mod.Path+" "+cm.digest)
	}
	data, _ := json.Marshal(k)
	return sha256Hex(data)[:32]
}

// runJob builds a job's result the way navius build and navius package
// do (tree.build, tree.pack), after verifying the catalog modules it
// carries, and stores it in the cache. Its temporary directory, under the
// cache's tmp/, is removed whatever happens.
func (s *webServer) runJob(ctx context.Context, j *job) (*cacheEntry, error) {
	req := j.req
	if e := s.cache.get(req.key); e != nil {
		return e, nil // built by a job that just ended
	}
	for _, cm := range req.sel.mods {
		if state, problem := cm.status(); state == "refused" {
			return nil, &requestError{status: http.StatusUnprocessableEntity, msg: problem}
		}
	}
	start := time.Now()
	w := &progressWriter{j: j}
	var mods []*thirdparty.Module
	for _, cm := range req.sel.mods {
		mods = append(mods, cm.mod)
	}
	t := &tree{dir: s.t.dir, fetched: s.t.fetched, manifest: s.nav, modules: mods, verified: true}
	goos, goarch, _ := strings.Cut(req.platform, "/")
	key, v, err := s.resolveBuild(ctx, w, j, t, goos, goarch)
	if err != nil {
		return nil, err
	}
	if t.work != nil {
		defer t.work.Close()
	}
	if key != req.key {
		if e := s.cache.get(key); e != nil {
			return e, nil // the tree changed to one built before
		}
	}
	stage, err := os.MkdirTemp(s.cache.tmpDir(), "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	out, result := filepath.Join(stage, "out"), filepath.Join(stage, "result")
	for _, d := range []string{out, result} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, cm := range req.sel.mods {
		if err := s.verify(ctx, w, cm); err != nil {
			return nil, err
		}
	}
	ch := choice{sel: req.sel.sel, how: "the builder's page", spec: req.sel.Spec}
	j.emit("stage", map[string]string{"stage": "compiling", "text": "compiling navius for " + req.platform})

	var artefact, bin string
	var sbomData []byte
	switch req.artifact {
	case "binary":
		if bin, err = t.build(ctx, w, w, ch, out, goos, goarch, nil); err != nil {
			return nil, err
		}
		j.emit("stage", map[string]string{"stage": "packaging", "text": "writing the SBOM"})
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		if sbomData, err = sbomOf(t.manifest, data, v, v, t.sourceDate()); err != nil {
			return nil, err
		}
		artefact = bin
	default:
		var img *imageRequest
		if req.artifact == "image" {
			plats, err := oci.ParsePlatforms(req.platform)
			if err != nil {
				return nil, err
			}
			_, ca, err := serverimage.FindCACertificates("")
			if err != nil {
				return nil, err
			}
			img = &imageRequest{platforms: plats, ca: ca}
		}
		env := &cli.Env{Manifest: s.env.Manifest, Stdout: w, Stderr: w}
		if err := t.pack(ctx, env, ch, [][2]string{{goos, goarch}}, out, img); err != nil {
			return nil, err
		}
		archives, _ := filepath.Glob(filepath.Join(out, "*.tar.gz"))
		if len(archives) != 1 {
			return nil, fmt.Errorf("navius package wrote %d archives, not one", len(archives))
		}
		if bin, sbomData, err = unpackArchive(archives[0], stage); err != nil {
			return nil, err
		}
		artefact = archives[0]
		if img != nil {
			images, _ := filepath.Glob(filepath.Join(out, "*-image.tar"))
			if len(images) != 1 {
				return nil, fmt.Errorf("navius package --image wrote %d images, not one", len(images))
			}
			artefact = images[0]
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(artefact)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(artefact)
	if err := os.WriteFile(filepath.Join(result, name), data, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(result, sbomFile), sbomData, 0o644); err != nil {
		return nil, err
	}
	entry := &cacheEntry{Key: key, builtFile: builtFile{File: name, Size: int64(len(data)), SHA256: sha256Hex(data), Artifact: req.artifact,
		Platform: req.platform, Features: req.sel.Features, FeaturesText: s.featuresText(ctx, t, bin, req.platform)},
		BuiltIn: time.Since(start), Built: time.Now().UTC()}
	return s.cache.put(entry, result)
}

// resolveBuild is a job's first stage, resolving what it builds (the
// selection itself was resolved before it queued: a bad one got 400):
// navius's version and revision as the tree is when the build starts,
// which key its result (a tree changed while the job waited builds as it
// is now), and, with catalog modules, the build's module workspace: go
// resolves the modules and their requirements against navius's go.mod,
// and the build uses that resolution (t.work).
func (s *webServer) resolveBuild(ctx context.Context, w io.Writer, j *job, t *tree, goos, goarch string) (key, version string, err error) {
	req := j.req
	text := "resolving navius's version for " + req.platform
	if len(t.modules) > 0 {
		text += " and the catalog modules' requirements"
	}
	j.emit("stage", map[string]string{"stage": "resolving", "text": text})
	key = s.cacheKey(req.sel, req.platform, req.artifact)
	plan, err := build.NewPlan(build.Options{Source: t.dir, Fetched: t.fetched, Selection: req.sel.sel, GOOS: goos, GOARCH: goarch, Modules: t.modules})
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(w, "navius:   %s, revision %s\n", plan.Version, orUnknown(t.revision()))
	if key != req.key {
		fmt.Fprintln(w, "          the source tree changed while this build waited: it builds the tree as it is now")
	}
	if len(t.modules) == 0 {
		return key, plan.Version, nil
	}
	for _, m := range t.modules {
		fmt.Fprintf(w, "module:   %s\n", build.ModuleLine(m))
	}
	work, err := build.PrepareModules(ctx, t.dir, plan.Env, t.modules)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return "", "", fmt.Errorf("resolving the catalog modules' requirements: %v", oneLine(err))
	}
	if err := build.ReportRaises(w, work, false); err != nil {
		work.Close()
		return "", "", err
	}
	t.work, t.workEnv = work, plan.Env
	return key, plan.Version, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// featuresText is what the binary's --features prints when it runs here,
// else what its build information says.
func (s *webServer) featuresText(ctx context.Context, t *tree, bin, platform string) string {
	if platform == build.HostPlatform() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, bin, "--features").Output(); err == nil {
			return string(out)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "not known: " + err.Error()
	}
	return fmt.Sprintf("(a %s binary does not run on this %s builder; its build information says:)\nfeatures: %s\ntags:     %s\n",
		platform, build.HostPlatform(), strings.Join(t.manifest.FeaturesFromTags(info.Tags), ", "), strings.Join(info.Tags, ","))
}

// unpackArchive writes the binary of a release archive into dir and
// returns its path and the archive's SBOM.
func unpackArchive(archive, dir string) (bin string, sbomData []byte, err error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, err
		}
		switch base := path.Base(h.Name); base {
		case "navius", "navius.exe":
			bin = filepath.Join(dir, base)
			out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
			if err != nil {
				return "", nil, err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", nil, err
			}
		case sbomFile:
			if sbomData, err = io.ReadAll(tr); err != nil {
				return "", nil, err
			}
		}
	}
	if bin == "" || sbomData == nil {
		return "", nil, fmt.Errorf("%s holds no binary or no SBOM", filepath.Base(archive))
	}
	return bin, sbomData, nil
}

// verify verifies a catalog module before its first build: navius's
// conformance suites on what it registers (build.VerifyModules, as navius
// build --with runs it), in a workspace of its own. The verdict is kept:
// a verified module is not run again, a refused one is refused at once.
func (s *webServer) verify(ctx context.Context, w io.Writer, cm *catalogModule) error {
	cm.verifying.Lock()
	defer cm.verifying.Unlock()
	state, problem := cm.status()
	switch state {
	case "verified":
		fmt.Fprintf(w, "verify:   %s %s was verified at its first build\n", cm.mod.Path, cm.entry.Version)
		return nil
	case "refused":
		return &requestError{status: http.StatusUnprocessableEntity, msg: problem}
	}
	pw, _ := w.(*progressWriter)
	if pw != nil {
		pw.j.emit("stage", map[string]string{"stage": "verifying", "text": "verifying " + cm.mod.Path + " " + cm.entry.Version + ": navius's conformance suites on what it registers"})
	}
	start := time.Now()
	work, err := build.PrepareModules(ctx, s.t.dir, nil, []*thirdparty.Module{cm.mod})
	if err != nil {
		return fmt.Errorf("module %s: %v", cm.mod.Path, oneLine(err))
	}
	defer work.Close()
	_, err = build.VerifyModules(ctx, w, work, []*thirdparty.Module{cm.mod}, false)
	if ctx.Err() != nil {
		return ctx.Err() // a cancelled run is no verdict
	}
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if err != nil {
		cm.state, cm.problem = "refused", fmt.Sprintf("catalog module %s %s is refused: %v", cm.mod.Path, cm.entry.Version, oneLine(err))
		s.metrics.add(&s.metrics.verifyRefused, 1)
		s.log.WithField("module", cm.mod.Path).WithField("error", oneLine(err).Error()).Warn("catalog module refused by its verification")
		return &requestError{status: http.StatusUnprocessableEntity, msg: cm.problem}
	}
	cm.state, cm.verified = "verified", time.Since(start)
	s.metrics.add(&s.metrics.verified, 1)
	s.log.WithField("module", cm.mod.Path).WithField("duration", cm.verified.Round(time.Millisecond).String()).Info("catalog module verified")
	return nil
}

func (cm *catalogModule) status() (string, string) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	return cm.state, cm.problem
}

// progressWriter turns the build's output into a job's events: each line
// a log event, and the steps navius build and navius package print into
// stage events.
type progressWriter struct {
	j     *job
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

// maxLogLines bounds the log events of one job.
const maxLogLines = 2000

func (p *progressWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadString('\n')
		if err != nil {
			p.buf.WriteString(line) // incomplete: wait for the rest
			return len(b), nil
		}
		p.line(strings.TrimRight(line, "\r\n"))
	}
}

func (p *progressWriter) line(l string) {
	p.lines++
	switch {
	case p.lines == maxLogLines+1:
		p.j.emit("log", map[string]string{"line": "... (the rest of the output is left out)"})
	case p.lines <= maxLogLines:
		p.j.emit("log", map[string]string{"line": l})
	}
	step := l
	if strings.HasPrefix(l, "[") {
		_, step, _ = strings.Cut(l, "] ")
	}
	for prefix, stage := range map[string]string{"checking": "checking", "collecting": "packaging", "writing": "packaging"} {
		if strings.HasPrefix(step, prefix) && step != l {
			p.j.emit("stage", map[string]string{"stage": stage, "text": step})
		}
	}
}
