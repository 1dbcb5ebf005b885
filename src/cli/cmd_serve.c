/* mlsae serve: the interactive viewer (SPEC §7): parse, open, serve until
 * Ctrl-C. The work is in src/server/. */
#include "config.h"
#include "core/json_file.h"
#include "cli/ckpt_args.h"
#include "cli/commands.h"
#include "cli/run_args.h"
#include "core/input_file.h"
#include "core/paths.h"
#include "core/signals.h"
#include "sae/checkpoint.h"
#include "server/analyser.h"
#include "server/server.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae serve --checkpoint DIR [--examples DB] [--dists FILE] [--host ADDR]\n"
            "                   [--port N] [--cors ORIGIN] [OPTIONS]\n"
            "\n"
            "Serve the interactive viewer of a trained MLSAE: the page at http://HOST:PORT/\n"
            "(type a prompt; see which latents fire at which layers, their examples, and\n"
            "the next-token logits when a layer is reconstructed or steered) and the\n"
            "reference's JSON API under /api/py/ (doc/server.md).\n"
            "\n"
            "  --checkpoint DIR   the SAE (as for 'mlsae test'): a directory or a Hugging\n"
            "                     Face repo id; a -tfm checkpoint supplies model_name and\n"
            "                     layers, a plain one needs --model_name (and --layers)\n"
            "  --examples DB      SQLite file of 'mlsae examples' (top examples per latent)\n"
            "  --dists FILE       safetensors of 'mlsae dists' (the latent page's layer\n"
            "                     distribution and density)\n"
            "  --host ADDR        address to listen on (default 127.0.0.1: this machine only)\n"
            "  --port N           port (default 8001; 0 = any free port)\n"
            "  --cors ORIGIN      allow cross-origin requests from ORIGIN only\n"
            "                     (e.g. http://localhost:3000 for the reference's app)\n"
            "  --max-connections N  simultaneous connections (default 64)\n"
            "  --timeout S        close idle connections after S seconds (default 30)\n"
            "  --help, -h         this help\n"
            "\n");
    mlsae_run_config_print_help(out);
}

/* The reference's hparams for GET /api/py/params: a -tfm checkpoint's own
 * config.json, else the run options it would have been trained with. */
/* The error for an input that is not a regular file: missing, or its type. */
static int not_a_file(const char *flag, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return cli_error("serve", "%s %s: no such file", flag, path);
    return cli_error("serve", "%s %s: not a regular file (%s)", flag, path,
                     mlsae_file_type_name(sb.st_mode));
}

static json_t *params_json(const char *ckpt, const mlsae_run_config *cfg)
{
    int is_tfm = 0;
    mlsae_sae_config sc;
    mlsae_error err;
    if (mlsae_ckpt_read_config(ckpt, &sc, &is_tfm, &err) == 0 && is_tfm) {
        char *path = mlsae_path_join_new(ckpt, "config.json");
        json_t *root = path ? mlsae_json_read_file(path, 0, NULL, &err) : NULL;
        free(path);
        if (json_is_object(root)) return root;
        json_decref(root);
    }
    const mlsae_autoencoder_config *ae = &cfg->autoencoder;
    json_t *layers = json_array();
    for (int i = 0; i < cfg->n_layers; i++) json_array_append_new(layers, json_integer(cfg->layers[i]));
    return json_pack("{s:s, s:o, s:I, s:I, s:I, s:f, s:I, s:f, s:f, s:b, s:b, s:I, s:I, s:I, s:b}",
                     "model_name", cfg->model_name, "layers",
                     cfg->n_layers ? layers : (json_decref(layers), json_null()),
                     "expansion_factor", (json_int_t)(sc.n_inputs ? sc.n_latents / sc.n_inputs : 0),
                     "k", (json_int_t)sc.k, "auxk", (json_int_t)sc.auxk,
                     "auxk_coef", ae->auxk_coef == ae->auxk_coef ? ae->auxk_coef : 0.0,
                     "dead_tokens_threshold", (json_int_t)ae->dead_tokens_threshold,
                     "dead_threshold",
                     (float)ae->dead_threshold == sc.dead_threshold ? ae->dead_threshold
                                                                    : (double)sc.dead_threshold,
                     "lr", ae->lr,
                     "standardize", sc.standardize, "skip_special_tokens",
                     ae->skip_special_tokens, "max_length", (json_int_t)cfg->data.max_length,
                     "batch_size", (json_int_t)cfg->data.batch_size, "accumulate_grad_batches",
                     (json_int_t)cfg->trainer.accumulate_grad_batches, "tuned_lens", 0);
}

static int parse_uint(const char *s, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > max) return -1;
    *out = v;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    char **args;
    mlsae_run_config *cfg;
    if (cli_checkpoint_command_start("serve", argc, argv, 1, &args, &cfg)) return 1;
    const char *ckpt = NULL, *examples = NULL, *dists = NULL, *host = "127.0.0.1", *port_s = "8001";
    const char *cors = NULL, *conns_s = "64", *timeout_s = "30";
    static const char *const flags[] = {"--checkpoint", "--examples", "--dists", "--host", "--port", "--cors",
                                        "--max-connections", "--timeout"};
    const char **values[] = {&ckpt, &examples, &dists, &host, &port_s, &cors, &conns_s, &timeout_s};
    int status = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0] && !status; i++)
        if (cli_take_value(&argc, args, flags[i], values[i]) < 0)
            status = cli_error("serve", "%s needs a value", flags[i]);
    long port = 0, conns = 0, timeout = 0;
    if (!status && !ckpt)
        status = cli_error("serve", "--checkpoint DIR is required (see 'mlsae serve --help')");
    if (!status && parse_uint(port_s, 65535, &port))
        status = cli_error("serve", "--port %s: not a port number (0..65535)", port_s);
    if (!status && (parse_uint(conns_s, 100000, &conns) || conns == 0))
        status = cli_error("serve", "--max-connections %s: not a positive number", conns_s);
    if (!status && (parse_uint(timeout_s, 86400, &timeout) || timeout == 0))
        status = cli_error("serve", "--timeout %s: not a positive number of seconds", timeout_s);
    if (!status && examples && !mlsae_is_file(examples))
        status = not_a_file("--examples", examples);
    if (!status && dists && !mlsae_is_file(dists))
        status = not_a_file("--dists", dists);
    mlsae_ckpt_source src = {0};
    if (!status)
        status = cli_checkpoint_run_config("serve", ckpt, NULL, argc, args, &src, cfg, NULL, NULL);
    const char *repo_id = src.repo_id;
    if (!status) ckpt = src.dir;
    mlsae_analyser *a = NULL;
    mlsae_server *srv = NULL;
    mlsae_error err;
    json_t *params = NULL;
    if (!status) {
        params = params_json(ckpt, cfg);
        mlsae_analyser_options ao = {0};
        ao.checkpoint = ckpt;
        ao.examples = examples;
        ao.dists = dists;
        if (!params) status = cli_error("serve", "out of memory");
        else if (mlsae_analyser_open(cfg, &ao, params, &a, &err))
            status = cli_error("serve", "%s", err.msg);
    }
    if (!status && json_is_null(json_object_get(params, "layers"))) {
        /* all layers of the model: name them */
        mlsae_analyser_info info;
        mlsae_analyser_get_info(a, &info);
        json_t *layers = json_array();
        for (int i = 0; i < info.n_layers; i++) json_array_append_new(layers, json_integer(info.layers[i]));
        json_object_set_new(params, "layers", layers);
    }
    if (!status) {
        mlsae_server_options so = {0};
        so.host = host;
        so.port = (int)port;
        so.cors_origin = cors;
        so.max_connections = (unsigned)conns;
        so.timeout_s = (unsigned)timeout;
        if (mlsae_server_start(a, &so, &srv, &err)) status = cli_error("serve", "%s", err.msg);
    }
    if (!status && mlsae_signals_install(&err)) status = cli_error("serve", "%s", err.msg);
    if (!status) {
        mlsae_analyser_info info;
        mlsae_analyser_get_info(a, &info);
        int v6 = strchr(host, ':') && host[0] != '[';
        printf("serving %s (%d layers, %d latents, k %d) on http://%s%s%s:%d/\n",
               repo_id ? repo_id : ckpt, info.n_layers, info.n_latents, info.k, v6 ? "[" : "",
               host, v6 ? "]" : "", mlsae_server_port(srv));
        printf("press Ctrl-C to stop\n");
        fflush(stdout);
        while (!mlsae_signals_stop_requested()) usleep(100 * 1000);
        mlsae_signals_restore();
        printf("stopped\n");
    }
    mlsae_server_stop(srv);
    mlsae_analyser_close(a);
    json_decref(params);
    mlsae_ckpt_source_free(&src);
    free(args);
    free(cfg);
    return status;
}
