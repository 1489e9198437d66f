"""The native CPU backend: LLVM JIT (`jit`) and the Python -> native entry (`entry`)."""
