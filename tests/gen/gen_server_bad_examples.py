"""Examples databases of another SAE, for `mlsae serve --examples` to refuse.

Copies of tests/fixtures/server/examples.db (gen_server.py) with one row
changed: bad_latent.db has latent 64 (the fixture SAE has 64 latents,
0..63); bad_layer.db has layer 3 (the fixture SAE has 3 layers, positions
0..2). Run from the repository root after gen_server.py."""
import os
import shutil
import sqlite3

OUT = os.path.join("tests", "fixtures", "server")


def derive(name, sql):
    path = os.path.join(OUT, name)
    shutil.copyfile(os.path.join(OUT, "examples.db"), path)
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


derive("bad_latent.db", "UPDATE examples SET latent = 64 WHERE id = (SELECT MIN(id) FROM examples)")
derive("bad_layer.db", "UPDATE examples SET layer = 3 WHERE id = (SELECT MIN(id) FROM examples)")
