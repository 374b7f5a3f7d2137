"""The module-pass wrapper the Relax rewrites before legalization share (polyphase.py and
sin_squared.py here, kernels/microkernels.py): one expression mutator over every Relax function."""
from __future__ import annotations


def rewrite_pass(name: str, rewriter_cls, *, drop_unused: bool = False):
    """A module pass that runs `rewriter_cls(mod)` (a relax.PyExprMutator decorated with
    relax.expr_functor.mutator) over every Relax function of the module; `drop_unused` removes
    the bindings a rewrite left unused. PrimFuncs the rewriter adds through its builder are kept.
    The rewriter's `function` attribute names the Relax function being visited (a rewrite that
    applies to one function only, e.g. the int8 vocoder convs of Kokoro's "audio")."""
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name=name)
    def apply(mod, _ctx):
        rewriter = rewriter_cls(mod)
        for gv, func in mod.functions.items():
            if isinstance(func, relax.Function):
                rewriter.function = gv.name_hint
                new = rewriter.visit_expr(func)
                rewriter.builder_.update_func(gv, relax.analysis.remove_all_unused(new) if drop_unused else new)
        return rewriter.builder_.get()

    return apply
