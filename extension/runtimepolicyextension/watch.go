package runtimepolicyextension

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watcher reports changes of the policy paths: fsnotify on each directory given, and on the
// directory of each file given (editors and ConfigMap volumes replace files by renaming,
// which a watch on the file itself misses).
type watcher struct {
	w       *fsnotify.Watcher
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

func newWatcher(paths []string, logger *zap.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// dirs maps each watched directory to the file names that matter in it; nil: all.
	dirs := map[string]map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs[p] = nil
			continue
		}
		// A file, or a path that does not exist yet: watch its directory for it.
		dir := filepath.Dir(p)
		if names, ok := dirs[dir]; !ok || names != nil {
			if names == nil {
				names = map[string]bool{}
			}
			names[filepath.Base(p)] = true
			dirs[dir] = names
		}
	}
	for dir := range dirs {
		if err := fw.Add(dir); err != nil {
			// The directory may appear later; the set reports the missing path meanwhile.
			logger.Warn("Cannot watch a policy directory: changes in it are not seen until restart", zap.String("path", dir), zap.Error(err))
		}
	}
	w := &watcher{w: fw, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				names, watched := dirs[filepath.Dir(ev.Name)]
				base := filepath.Base(ev.Name)
				// A ConfigMap volume swaps its ..data link: every file changes at once.
				if !watched || (names != nil && !names[base] && !strings.HasPrefix(base, "..")) {
					continue
				}
				select {
				case w.changed <- struct{}{}:
				default:
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				logger.Warn("Policy file watch error", zap.Error(err))
			}
		}
	}()
	return w, nil
}

func (w *watcher) close() error {
	close(w.done)
	err := w.w.Close()
	w.wg.Wait()
	if errors.Is(err, fsnotify.ErrClosed) {
		return nil
	}
	return err
}
