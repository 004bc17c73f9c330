# taskdistil: two commands for a new machine.
#   make demo  - install, then distill the SST-2 example end to end (teacher -> student -> exam)
#   make test  - install, then run the test suite
PYTHON ?= python
DATA ?= $(abspath ../shared/data)
export TASKDISTIL_DATA ?= $(DATA)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: install demo test bench bench-exam

install:
	$(PYTHON) -m pip install "torch==2.13.0" -e ".[dev]"

demo: install
	$(PYTHON) -m taskdistil run examples/sst2.yaml

test: install
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) bench/sst2_skeleton.py

# the exam of the trained SST-2 and SmSA runs (train them first: taskdistil run examples/<task>.yaml);
# the report screenshot needs Debian's chromium (apt-get install chromium)
bench-exam: install
	$(PYTHON) bench/exam.py --config examples/sst2.yaml --out bench/results/exam_sst2.json
	$(PYTHON) bench/exam.py --config examples/smsa.yaml --out bench/results/exam_smsa.json
