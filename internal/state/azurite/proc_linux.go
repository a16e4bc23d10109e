package azurite

import "syscall"

// setParentDeathSignal kills Azurite if the test binary dies without
// running TestMain's Stop (a timeout panic, a kill).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
