"""gradcheck-ci: check Theano's symbolic gradients of Lasagne models against finite differences in
CI.

The package is built in layers, bottom to top. A module imports only from its own layer or a lower
one, never in a cycle, and never a private name (a leading underscore) of another module; the lower
a layer, the less it may assume (the first three never import Theano, Lasagne or numpy at import
time, so `validate`, `merge` and the reporters run without them). tests/unit/test_layers.py reads
this table and enforces it, so a new module must be placed here first.

    layer  name        units        job
      1    core        core/        plain data (results, errors) and the tables of losses and causes
      2    config      config/      gradcheck.yml -> ModelSpec
      3    report      report/      RunReport -> text, JSON, JUnit, SARIF, GitHub, HTML
      4    platform    platform/    the legacy stack made to work; the cache; compiled functions
      5    usercode    usercode/    the user's code in, under guards, and blamed
      6    model       model/       a built model, its synthetic data and its loss
      7    engine      engine/      analytic against numeric, tensor by tensor; the verdict
      8    diagnose    diagnose/    why they differ, confirmed by ablation
      9    process     process/     one worker process per model, and the runner that keeps them
     10    init        init/        `init`: factories found, tried in workers, written down
     11    commands    commands/    the command line: `check`, `replay`, `docker`; the console
     11    commands    __main__     `python -m gradcheck_ci`
     12    action      entrypoint   the GitHub Action's adapter (outside the package)
"""

__version__ = "0.1.0"
