"""`python -m recsys bench`: speed and memory sections and the page client they use."""
