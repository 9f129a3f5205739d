"""`gradcheck-ci init`: discover factories in a repository, try each in a worker, write
gradcheck.yml."""
