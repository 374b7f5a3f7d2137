"""Relax-to-Relax rewrites run before legalization (module passes a recipe puts in its pipeline).

* rewrite_pass.py  the module-pass wrapper they share (one expression mutator per function)
* polyphase.py     strided conv1d_transpose -> one conv1d over phase channels + interleave
* sin_squared.py   sin(x)^2 -> range reduction + polynomial that LLVM vectorizes

Passes that replace Relax ops by hand-written TIR kernels live with the kernels (kernels/).
"""
