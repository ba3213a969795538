# RDF's RavOp example, as written, with Corvid: start a server and a worker (scripts/start.sh),
# then PYTHONPATH=build/native/python python3 python/examples/rdf_example.py
import corvid as R

algo = R.Graph(name='test', approach='distributed')
a = R.t([1, 2, 3])
b = R.t([5, 22, 7])
c = a + b
print('c: ', c())
algo.end()
