"""gradcheck-ci: check Theano's symbolic gradients of Lasagne models against finite differences in CI.

The package is built in layers, bottom to top. A module imports only from its own layer or a lower one,
never in a cycle, and never a private name (a leading underscore) of another module; the lower a layer,
the less it may assume (the first three never import Theano, Lasagne or numpy at import time, so
`validate`, `merge` and the reporters run without them). tests/unit/test_layers.py reads this table and
enforces it, so a new module must be placed here first.

    layer  name        units                                         job
      1    foundation  results errors suggest losses causes          plain data and the tables of losses and causes
      2    config      config/                                       gradcheck.yml -> ModelSpec
      3    report      report/                                       RunReport -> text, JSON, JUnit, SARIF, GitHub
      4    platform    compat numeric fncache forked                 the legacy stack made to work; finite differences;
                                                                     compiled functions kept between runs (fncache);
                                                                     evaluations shared with a forked child (forked)
      5    model       guard legacy blame importer returned          user code in, under guards, and blamed
      5    model       model data objective discover                 a built model and its loss out
      6    engine      check directional verdict elements            analytic against numeric, tensor by tensor
      7    diagnosis   diagnose/                                     why they differ, confirmed by ablation
      8    process     worker runner trial                           one worker process per model (or per init trial)
      9    run         run output changes scaffold replay            one `check`, `init` or `replay`; the console
     10    commands    cli dockerrun                                 the command line
     11    action      entrypoint                                    the GitHub Action's adapter (outside the package)
"""

__version__ = "0.1.0"
