package invoke

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// AppRootSetting is the environment variable the Functions host sets to
// the app root, the folder that holds host.json (contract §1).
const AppRootSetting = "FUNCTIONS_APP_ROOT_PATH"

// FunctionsRoot is the one rule by which both the handler and replay find
// the function folders, the host's own rule first:
//
//  1. an absolute functions folder (AZDETECT_FUNCTIONS_DIR) is used as
//     given;
//  2. the app root (appRoot: FUNCTIONS_APP_ROOT_PATH as the host sets it,
//     else the working directory) is the functions folder when any of its
//     immediate subfolders holds a function.json: a staged package
//     (dist/app), read exactly as the host reads it;
//  3. otherwise the functions folder is dir below the app root: a checkout,
//     whose function folders live in functions/ (the default of dir).
//
// Only immediate subfolders with a function.json are functions, in every
// case; nothing deeper is read.
func FunctionsRoot(appRoot, dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	if appRoot == "" {
		appRoot = "."
	}
	if names, _ := functionFolders(appRoot); len(names) > 0 {
		return appRoot
	}
	if dir == "" {
		return appRoot
	}
	return filepath.Join(appRoot, dir)
}

// functionFolders lists the names of the immediate subfolders of dir that
// hold a function.json, sorted: the functions the host finds in an app
// root.
func functionFolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name(), "function.json")); err == nil && fi.Mode().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// nestedFunctions lists function.json files two levels below dir
// (<dir>/<x>/<name>/function.json): function folders the host never reads,
// the repository's functions/ layout published as is.
func nestedFunctions(dir string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*", "function.json"))
	var out []string
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err == nil {
			out = append(out, filepath.ToSlash(rel))
		}
	}
	slices.Sort(out)
	return out
}

// CheckAppRoot reports an app root the host would load with zero
// functions: no immediate subfolder holds a function.json. The error names
// the nested function folders when there are some.
func CheckAppRoot(dir string) ([]string, error) {
	names, err := functionFolders(dir)
	if err != nil {
		return nil, fmt.Errorf("read app root: %w", err)
	}
	if len(names) > 0 {
		return names, nil
	}
	if nested := nestedFunctions(dir); len(nested) > 0 {
		return nil, fmt.Errorf("app root %s holds no function folder beside host.json, but %d nested ones (%s): the host reads only <app root>/<name>/function.json and would load zero functions; stage the package with `make package` and use dist/app",
			dir, len(nested), strings.Join(firstN(nested, 3), ", "))
	}
	return nil, fmt.Errorf("app root %s holds no function folder (<name>/function.json beside host.json): the host would load zero functions", dir)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clip(s[:n]), "...")
	}
	return s
}
