// cli.h — the `rightsize` verbs. Each verb lives in its own cmd_<verb>.c and is linked into the
// binary directly; main.c lists them in one table. A verb returns the process exit status
// (0 ok, 1 failure, 2 usage error) and prints its own --help.
#ifndef RS_CLI_H
#define RS_CLI_H

typedef int (*CmdFn)(int argc, char **argv);

// Declared weak so that the table in main.c only offers verbs whose file is in the build.
#define RS_VERB(fn) int fn(int argc, char **argv) __attribute__((weak))
RS_VERB(cmd_run);
RS_VERB(cmd_gguf);
RS_VERB(cmd_worker);
RS_VERB(cmd_serve);
RS_VERB(cmd_plan);
RS_VERB(cmd_bench);
RS_VERB(cmd_calibrate);
RS_VERB(cmd_quantize);
RS_VERB(cmd_eval);
RS_VERB(cmd_distill);
RS_VERB(cmd_report);

// `rightsize gguf tokenize` (cmd_gguf_tokenize.c); argv[0] is "tokenize".
int cmd_gguf_tokenize(int argc, char **argv);
// `rightsize gguf embed` and `gguf synth --arch bert|nomic-bert` (cmd_gguf_bert.c).
int cmd_gguf_embed(int argc, char **argv);
int gguf_synth_is_encoder(int argc, char **argv);
int gguf_synth_encoder(int argc, char **argv);
// `rightsize gguf render-chat` (cmd_gguf_chat.c); argv[0] is "render-chat".
int cmd_gguf_render_chat(int argc, char **argv);

// True when argv holds -h or --help.
int cli_wants_help(int argc, char **argv);

#endif
