"""`longhaul generate-text PROMPT`: try the engine by hand, streaming tokens as they decode."""

from __future__ import annotations

import json

import typer


def register(cli: typer.Typer) -> None:
    @cli.command("generate-text")
    def generate_text(
        prompt: str = typer.Argument(..., help="the prompt (wrapped in the chat template unless --raw)"),
        model: str = typer.Option("", help="a .gguf file, an HF directory or synthetic:<shape> (default: SmolLM2)"),
        adapter: str = typer.Option("auto", help="PEFT LoRA dir merged at load; auto = bundled; '' = none"),
        max_new_tokens: int = typer.Option(256, help="tokens to generate at most"),
        temperature: float = typer.Option(0.0, help="0 = greedy"),
        top_p: float = typer.Option(1.0, help="nucleus sampling mass"),
        seed: int | None = typer.Option(None, help="sampling seed"),
        raw: bool = typer.Option(False, "--raw", help="send the prompt as is, without the chat template"),
        device: str = typer.Option("cpu", help="cpu or cuda"),
        threads: int = typer.Option(2, help="torch threads"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Generate a continuation of PROMPT with the longhaul engine, streaming tokens."""
        from engine.llm import LLM

        llm = LLM.load(model or None, device=device, adapter=adapter or None, threads=threads)
        kwargs = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, chat=not raw)
        if as_json:
            g = llm.generate(prompt, **kwargs)  # type: ignore[arg-type]
            typer.echo(json.dumps({"text": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
                                   "new_tokens": len(g.token_ids), "timings_ms": g.timings_ms,
                                   "prefill_tok_s": g.prefill_tok_s, "decode_tok_s": g.decode_tok_s}))
            return
        for piece in llm.stream(prompt, **kwargs):  # type: ignore[arg-type]
            typer.echo(piece, nl=False)
        typer.echo()
