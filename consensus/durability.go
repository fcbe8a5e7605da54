package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The ledger's state store commits each applied batch without fsync
// (ledger.Options.DeferSync). The Raft log is the durable record: an entry
// commits only once a quorum has fsynced it, and the state is a function of
// the log. Syncing the state store as well put a second fsync on the serial
// apply path of every batch.
//
// A process crash (kill -9, a panic, the OOM killer) loses nothing, because
// the kernel still holds every write the store made. Only a crash of the
// machine can lose or tear writes that were never synced, and it changes the
// boot ID. So while the store is open, a marker file holds the boot ID; a
// clean shutdown syncs the store and removes the marker. A marker left by
// another boot means the machine went down under an open store: the store is
// set aside and rebuilt from the newest snapshot and the log
// (catchUpFromSnapshot, then Raft replaying the entries after the snapshot).
// If the final sync fails (a write-back error, which the kernel reports
// once and then forgets), the marker is left matching no boot, with the
// same effect on the next start. Where there is no boot ID to compare,
// every commit is synced.

// stateOpenMarker is the marker's name in the data directory.
const stateOpenMarker = "state.db.open"

// bootID reads the kernel's random ID of the current boot from file (on
// Linux, /proc/sys/kernel/random/boot_id).
func bootID(file string) (string, bool) {
	if file == "" {
		return "", false
	}
	b, err := os.ReadFile(file)
	id := strings.TrimSpace(string(b))
	return id, err == nil && id != ""
}

// prepareStateStore runs before the state store opens. It reports whether
// the store may defer its fsyncs and, if the machine went down while the
// store had unsynced writes, moves the store aside so that it is rebuilt.
func prepareStateStore(dir, bootIDFile string, log *slog.Logger) (deferSync bool, err error) {
	boot, ok := bootID(bootIDFile)
	if !ok {
		return false, nil
	}
	marker := filepath.Join(dir, stateOpenMarker)
	prev, err := os.ReadFile(marker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("consensus: read %s: %w", marker, err)
	case strings.TrimSpace(string(prev)) != boot:
		state := filepath.Join(dir, "state.db")
		aside := fmt.Sprintf("%s.unsynced-%s", state, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.Rename(state, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("consensus: set aside the state store: %w", err)
		}
		log.Warn("the machine restarted while the state store had unsynced writes; rebuilding it from the Raft snapshot and log",
			"set_aside", aside)
	}
	if err := writeFileSync(marker, []byte(boot+"\n")); err != nil {
		return false, fmt.Errorf("consensus: write %s: %w", marker, err)
	}
	return true, nil
}

// stateStoreClosed removes the marker after the store was synced and
// closed. If syncing or closing failed (synced is false), the writes may
// never reach the disk, and the kernel does not say so again: the marker
// is then made to match no boot, so that the next start rebuilds the store.
func stateStoreClosed(dir string, synced bool) error {
	marker := filepath.Join(dir, stateOpenMarker)
	if !synced {
		if err := writeFileSync(marker, []byte(unsyncedMarker+"\n")); err != nil {
			return fmt.Errorf("consensus: mark the state store for rebuilding: %w", err)
		}
		return nil
	}
	err := os.Remove(marker)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("consensus: remove %s: %w", stateOpenMarker, err)
	}
	return nil
}

// unsyncedMarker is a marker's content that matches no boot ID.
const unsyncedMarker = "unsynced"

// writeFileSync writes a small file durably: a temporary file, fsync,
// rename, and fsync of the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
