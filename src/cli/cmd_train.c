/* mlsae train: the training loop (train/trainer.h) on a model + dataset,
 * or on saved activations (--activations FILE). */
#include "config.h"
#include "cli/comm_args.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/run_args.h"
#include "pipeline/comm.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae train [--config FILE]... [OPTIONS]\n"
            "       mlsae train --resume DIR [OPTIONS]\n"
            "       mlsae train --activations FILE [--init DIR] [OPTIONS]\n"
            "\n"
            "Train a multi-layer SAE on the residual stream of every selected layer of a\n"
            "GPT-NeoX/Pythia model: the dataset is read, tokenized and packed on a\n"
            "background thread; the transformer runs on each batch; one TopK SAE learns\n"
            "from every layer's vectors at once (SPEC: the reference's algorithm and\n"
            "defaults). Progress goes to stderr; metrics to <out>/metrics.jsonl.\n"
            "\n"
            "Ctrl-C (or SIGTERM) finishes the current micro-batch, writes\n"
            "<out>/checkpoints/last and exits 0; --resume <out>/checkpoints/last continues\n"
            "exactly where it stopped. The trained SAE is written to\n"
            "<out>/mlsae-<model>-x<E>-k<K>/ in the reference's format (config.json +\n"
            "model.safetensors), loadable by the Python reference.\n"
            "\n"
            "Data parallel (doc/scaling.md): mpirun -np N mlsae train ... trains ONE SAE\n"
            "on N processes, each taking every N-th batch of the same stream: a global\n"
            "micro-batch of N x batch_size sequences, the result of one process with\n"
            "batch_size x N. Rank 0 writes every file; --resume needs the same N.\n"
            "\n"
            "Sweeps (the reference's SweepConfig): several values for\n"
            "--autoencoder.expansion_factor and/or --autoencoder.k, e.g.\n"
            "  mlsae train ... --autoencoder.expansion_factor 32 64 128 --autoencoder.k 16 32 64\n"
            "train every combination on the same batches from ONE transformer pass per batch.\n"
            "Each SAE gets <out>/mlsae-<model>-x<E>-k<K>/, holding what a single run with\n"
            "that --out holds (config, metrics, checkpoints/last, the SAE); <out>/sweep.json\n"
            "lists them, and --resume <out> resumes them all. One model per command.\n"
            "\n"
            "--activations FILE trains on saved activations instead (no model, no validation):\n"
            "a safetensors file with 'inputs' F32 [n_batches, n_layers, batch, pos, d_model],\n"
            "one micro-batch per entry, in order; batch and pos are the file's. --init DIR\n"
            "starts from an MLSAE checkpoint (its config.json and weights, a new optimizer).\n"
            "The SAE is named after --model_name when given, else the model the file\n"
            "records (metadata model_name), else the file's name without .safetensors\n"
            "(a.safetensors: <out>/mlsae-a-x<E>-k<K>/). The run ends at max_steps or at the\n"
            "end of the file, whichever comes first.\n"
            "The same options, defaults, metrics and outputs as a run on a model.\n"
            "\n"
            "The paper's configuration for Pythia-70m (model in the HF cache or a directory):\n"
            "  mlsae train --model_name EleutherAI/pythia-70m-deduped \\\n"
            "      --autoencoder.expansion_factor 64 --autoencoder.k 32 --data.path DATA\n"
            "\n"
            "  --config FILE, -c FILE   a YAML file of options (the reference's layout)\n"
            "  --resume DIR             continue from a checkpoint (trainer.checkpoint_path)\n"
            "  --out DIR                output directory (trainer.default_root_dir; default out)\n"
            "  --help, -h               this help\n"
            "\n");
    mlsae_run_config_print_help(out);
}

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return cli_error("train", "out of memory");
    int status = cli_run_config("train", argc, argv, cfg, NULL, NULL);
    if (status) {
        free(cfg);
        return status;
    }
    mlsae_error err;
    /* the ranks of a node share its cores, and `--device auto` spreads them
     * over its best devices */
    if (cli_comm_start("train", cfg)) {
        free(cfg);
        return 1;
    }
    const int rank = mlsae_comm_rank(), ranks = mlsae_comm_size();
    mlsae_train_io io = {.out = rank == 0 ? stderr : NULL, .tty = -1};
    mlsae_train_summary sum;
    cli_download_progress(rank == 0);
    int failed = mlsae_train(cfg, &io, &sum, &err) != 0;
    cli_download_progress(0);
    if (failed) {
        /* with several ranks the others wait in a collective: it ends them all */
        status = cli_comm_fail("train", err.msg);
    } else if (rank == 0) {
        printf("%s after %lld micro-batches (%lld optimizer steps, %llu tokens) in %.1f s\n",
               sum.interrupted ? "stopped" : "trained", (long long)sum.micro_batches,
               (long long)sum.steps, (unsigned long long)sum.tokens, sum.seconds);
        if (sum.overlapped)
            printf("time:       transformer thread: data %.2f s, transformer %.2f s, overlapped "
                   "with the SAE, which waited %.2f s for it; upload %.2f s, sae %.2f s, "
                   "validation %.2f s, checkpoints+logs %.2f s\n", sum.data_s, sum.forward_s,
                   sum.wait_s, sum.upload_s, sum.sae_s, sum.validate_s, sum.save_s);
        else
            printf("time:       data %.2f s, transformer %.2f s, sae %.2f s, validation %.2f s, "
                   "checkpoints+logs %.2f s\n", sum.data_s, sum.forward_s, sum.sae_s,
                   sum.validate_s, sum.save_s);
        if (ranks > 1) {
            mlsae_comm_stats cs;
            mlsae_comm_get_stats(&cs);
            printf("mpi:        %d ranks; rank 0: %llu collectives, %.1f MB reduced, %.3f s in "
                   "MPI (including waits for the other ranks)\n", ranks,
                   (unsigned long long)cs.calls, cs.bytes / 1e6, cs.seconds);
        }
        if (sum.sweep) {
            for (int i = 0; i < sum.n_members; i++) {
                const mlsae_train_member_summary *m = &sum.members[i];
                printf("member:     %s/%s: memory %.1f MiB, sae %.2f s, validation %.2f s, "
                       "checkpoints+logs %.2f s, last loss %.6g\n", sum.out_dir, m->name,
                       m->memory_bytes / 1048576.0, m->sae_s, m->validate_s, m->save_s,
                       m->last_loss);
            }
            printf("sweep:      %s/sweep.json (%d SAEs; resume with --resume %s)\n", sum.out_dir,
                   sum.n_members, sum.out_dir);
        } else {
            if (!sum.interrupted) printf("sae:        %s\n", sum.sae_dir);
            printf("checkpoint: %s\n", sum.checkpoint_dir);
            printf("metrics:    %s/metrics.jsonl\n", sum.out_dir);
            printf("config:     %s/config.yaml\n", sum.out_dir);
        }
    }
    free(cfg);
    mlsae_comm_finalize();
    return status;
}
