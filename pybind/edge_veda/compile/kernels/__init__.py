"""TIR for CPUs: hand-written kernels, and the schedule of the kernels TVM generates.

* gru_kernels.py   the GRU seq2seq kernels (encoder, decoder step, fused greedy word) of g2p-en
* microkernels.py  register-blocked conv1d / matmul kernels, and the Relax pass that routes
                   eligible ops to them
* int8_conv.py     the int8 conv kernel (int8 weights, 16-bit activations, exact int32 sums) that
                   `compile --precision int8` routes the convs a recipe names to
* cpu_schedule.py  the module pass that schedules every legalized PrimFunc (loop order,
                   unrolling, parallel loops, elementwise inlining)
"""
