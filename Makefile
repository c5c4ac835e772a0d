# aesampling: reproduction targets and tests.
#
#   make test            create .venv, install, run pytest (TensorFlow, then the backend-sensitive tests on JAX)
#   make demo            whole workflow on the embedded digits, enlarged and shifted on a 16x16 canvas
#                        -> results/shifted_digits/ (make digits: the same on the plain 8x8 digits)
#   make mnist           MNIST (tfds download, or DATA_DIR=folder with the IDX .gz files)
#   make fashion_mnist   Fashion-MNIST (same; DATA_DIR=/usr/share/datasets/fashion-mnist)
#   make cifar10         CIFAR-10 on ResNet50 features (tfds, or DATA_DIR=python batches)
#   make cifar100        CIFAR-100 likewise
#   make bench           benchmark the sampler and train-on-synthetic on this machine
#   make gpu-check       on a JAX GPU machine: install carried wheels, make bench, Fashion-MNIST (scripts/gpu_check.sh)
#   make <dataset>_seeds the whole protocol once per seed (SEEDS="0 1 2"), summarised as mean ± spread
#   make split_<dataset> class-incremental learning by replay, every method (split_digits, split_mnist,
#                        split_fashion_mnist, split_cifar10; SPLIT_SEEDS="0 1 2 3 4")
#   make publish_<dataset>  copy a run's reports (RESULTS/<dataset>) over the committed ones (REFERENCE/<dataset>)
#   make clean           remove models, samples and curves (keeps the reports and feature caches)
#
# Every target runs on Keras's TensorFlow backend by default; KERAS_BACKEND=jax runs it on JAX.
# Variables: DATA_DIR, TFDS_DATA_DIR, RESNET_WEIGHTS (imagenet | none | file.h5),
# IMAGE_SIZE (224), SEED (0), SEEDS (0 1 2), RECIPE (paper | recommended), CRITERION (student | fd), NUM_SAMPLES (samples
# per autoencoder for the grids), RESULTS (build/results), REFERENCE (results), SMOKE=1 (tiny epochs and steps:
# minutes, not hours).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The package's extras installed into VENV: both backends, tfds and the test tools by default. A JAX-only
# install without TensorFlow: make demo VENV=.venv-jax EXTRAS=jax (aesampling then runs on JAX by itself).
EXTRAS ?= tensorflow,jax,tfds,test
STAMP := $(VENV)/.installed-$(EXTRAS)

# Runs write into RESULTS; the committed reports in REFERENCE stay as they are, and every report is
# compared with its reference (comparison.md). `make publish_<dataset>` copies a run's reports there.
RESULTS ?= build/results
REFERENCE ?= results
DATA_DIR ?=
TFDS_DATA_DIR ?=
RESNET_WEIGHTS ?= imagenet
IMAGE_SIZE ?= 224
SEED ?= 0
NUM_SAMPLES ?= 10000
SMOKE ?= 0
DEMO_JOBS ?= 2

AUTOENCODERS := shallow_ae deep_ae shallow_dae deep_dae
DAES := shallow_dae deep_dae

# DAE noise candidates per dataset. The paper grid-searched its DAEs' noise
# (Section IV-D); here every candidate is trained and λ-searched, and the one
# with the best validation score becomes <dae>.keras (scripts/choose_noise.py).
# Tags: preset (Table I's levels), sp<rate> (salt-and-pepper rate),
# g<σ> (pre-activation Gaussian σ); the other level stays at the preset's.
digits_DAE_NOISES ?= preset
shifted_digits_DAE_NOISES ?= preset
mnist_DAE_NOISES ?= preset sp0.1
fashion_mnist_DAE_NOISES ?= preset sp0.1
cifar10_DAE_NOISES ?= preset
cifar100_DAE_NOISES ?= preset
noise_flags = $(if $(filter sp%,$(1)), --salt_pepper_rate=$(1:sp%=%))$(if $(filter g%,$(1)), --gaussian_noise_std=$(1:g%=%))
# Each autoencoder is evaluated at both choices of its λ search: the student's (<ae>; <ae>_balanced under
# RECIPE=recommended, which balances its collection) and the lowest FD's (<ae>_fd),
# and at the FD choice again with class-balanced collection (<ae>_fd_balanced, aesampling/sampling/class_balance.py).
# FD_CURVES=0 evaluates the student's choice only. CRITERION=fd searches λ by FD alone: no student is trained in
# the search (seconds per autoencoder instead of up to an hour on 2 CPU cores), so there is no student's choice and
# only the FD choice's curves are evaluated.
FD_CURVES ?= 1
# Extra evaluate.py flags of the class-balanced curves alone (<ae>_fd_balanced, and the recommended recipe's
# <ae>_balanced), e.g. BALANCED_EVAL_ARGS=--steps_per_epoch=20: a fifth of the samples.
BALANCED_EVAL_ARGS ?=
CRITERION ?= student
ifeq ($(filter student fd,$(CRITERION)),)
$(error CRITERION must be student or fd, got '$(CRITERION)')
endif
# RECIPE names how the chains run (aesampling/experiments/recipes.py, results/recipes/): paper (the default here, what these
# targets reproduce) starts every chain at N(0, I) and collects every state; recommended starts it at the training
# data's per-feature mean and std (x_0 = μ + σ ⊙ z): the λ searches run so, their results carry the start to the
# samples and curves, and labelled noise drawn there (moments_bound) joins the bounds; then the chains collect equal
# per-class quotas (--balance_classes): the samples, and each autoencoder's curve at the student's choice
# (<ae>_balanced instead of <ae>). Both choose λ by the student (CRITERION=fd: by FD alone). For make
# split_<dataset> it sets the replay chains (recipes.ReplayChains, docs/continual.md).
RECIPE ?= paper
ifeq ($(filter paper recommended,$(RECIPE)),)
$(error RECIPE must be paper or recommended, got '$(RECIPE)')
endif
ifneq ($(filter command line environment,$(origin START)),)
$(error START was replaced by RECIPE: START=moments is RECIPE=recommended, START=normal is RECIPE=paper)
endif
# The search's settings stamp, in the words run folders made before recipes had names hold: nothing for the paper's
# start, --start=moments for the moments, so that an older folder's searches are not redone.
RECIPE_SETTING := $(if $(filter recommended,$(RECIPE)),--start=moments)
# The recipe's collection: class-balanced for recommended (recipes.Recipe.balance), every state for paper; the
# samples get the refill, patience and pool that BALANCED_EVAL_ARGS gives the balanced curves.
RECIPE_BALANCE := $(strip $(if $(filter recommended,$(RECIPE)),--balance_classes $(filter --refill=% \
  --balance_patience=% --balance_pool=%,$(BALANCED_EVAL_ARGS))))
# The autoencoders' curves at the student's choice: <ae>, or <ae>_balanced where the recipe balances.
STUDENT_SOURCES := $(if $(RECIPE_BALANCE),$(AUTOENCODERS:%=%_balanced),$(AUTOENCODERS))
# Stuck chains refilled at each class's moments (--refill=class_moments in BALANCED_EVAL_ARGS): labelled noise drawn
# there, each class alike (class_moments_bound), joins the bounds as the floor those chains start from.
CLASS_BOUND := $(if $(findstring --refill=class_moments,$(BALANCED_EVAL_ARGS)),class_moments_bound)
NOISE_BOUNDS := $(CLASS_BOUND) $(if $(RECIPE_SETTING),moments_bound) lower_bound
FD_SOURCES := $(AUTOENCODERS:%=%_fd) $(AUTOENCODERS:%=%_fd_balanced)
ifeq ($(CRITERION),fd)
SOURCES := upper_bound $(FD_SOURCES) $(NOISE_BOUNDS)
else
SOURCES := upper_bound $(STUDENT_SOURCES) $(if $(filter 1,$(FD_CURVES)),$(FD_SOURCES)) $(NOISE_BOUNDS)
endif

# The curves in the order make builds them (the report lists SOURCES' order): the FD choice's first. GNU make 4.3's
# dry run (make -n) leaves out a DAE's FD curves when its noise choice, a grouped target, is first reached through
# a student's curve that does not exist yet (as after a change of RECIPE); a real run makes them either way.
MAKE_ORDER_SOURCES := $(filter %_fd %_fd_balanced,$(SOURCES)) $(filter-out %_fd %_fd_balanced,$(SOURCES))

ifeq ($(SMOKE),1)
TRAIN_ARGS := --epochs=1
EVAL_ARGS := --epochs=2 --steps_per_epoch=5 --quality_samples=1000 --mixing_chains=100
SEARCH_ARGS := --epochs=1 --steps_per_epoch=5 --fd_samples=1000 --lambdas=0.01,0.1 --collects=noisy --burn_ins=2 --widenings=0
NUM_SAMPLES := 200
endif

comma := ,
empty :=
space := $(empty) $(empty)
join_commas = $(subst $(space),$(comma),$(strip $(1)))

DATA_FLAGS := $(if $(DATA_DIR),--data_dir=$(DATA_DIR)) $(if $(TFDS_DATA_DIR),--tfds_data_dir=$(TFDS_DATA_DIR))

# The settings given on make's command line, repeated in each report's reproduce command (a seed's run adds SEED).
REPRODUCED_VARIABLES = DATA_DIR TFDS_DATA_DIR RESNET_WEIGHTS IMAGE_SIZE SEED SMOKE RECIPE CRITERION FD_CURVES NUM_SAMPLES \
  AUTOENCODERS TRAIN_ARGS SEARCH_ARGS EVAL_ARGS BALANCED_EVAL_ARGS $(1)_DAE_NOISES
quoted = $(if $(findstring $(space),$(strip $(1))),'$(strip $(1))',$(1))
reproduce_command = $(strip make $(1) $(foreach v,$(REPRODUCED_VARIABLES),$(if $(filter command line environment environment override,$(origin $(v))),$(v)=$(call quoted,$($(v))))))
# The feature cache name aesampling.data.resnet50.cache_path gives these settings.
DATASETS := digits shifted_digits mnist fashion_mnist cifar10 cifar100
WEIGHTS_TAG := $(if $(filter imagenet none,$(RESNET_WEIGHTS)),$(RESNET_WEIGHTS),$(basename $(notdir $(RESNET_WEIGHTS))))

.PHONY: install test demo $(DATASETS) bench gpu-check clean FORCE $(DATASETS:%=%_seeds)

$(STAMP): setup.py setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

# The backend-sensitive tests run again on JAX, with tensorflow and tensorflow_datasets made unimportable
# (tests/without_tensorflow), as on a GPU machine that has JAX and no TensorFlow: the compiled chains, the
# train-on-synthetic loop, the whole digits pipeline, resumption, image-shaped and users' models (the class-balanced
# loop among them). The longest files first, so that the two workers end together.
JAX_TESTS := tests/test_scripts.py tests/test_benchmark_script.py tests/test_sampling.py tests/test_own_models.py \
  tests/test_backend.py tests/test_resume.py tests/test_model_shapes.py tests/test_evaluation.py

# Two pytest workers (pytest-xdist), each test file on one of them: most tests wait on Python and process start-up,
# not on both cores.
PYTEST := $(PY) -m pytest -n 2 --dist loadfile

# The JAX leg shares one compilation cache between its processes (the scripts' stages compile the same programs),
# made empty at each run.
JAX_TEST_CACHE := build/test-jax-cache

test: $(STAMP)
	$(PYTEST)
	rm -rf $(JAX_TEST_CACHE)
	KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$(CURDIR)/$(JAX_TEST_CACHE) JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
	  PYTHONPATH=tests/without_tensorflow $(PYTEST) $(JAX_TESTS)

# Speed of the sampler and of train-on-synthetic on this machine -> results/benchmarks/<machine kind>.{md,json}
BENCH_ARGS ?=
bench: | $(STAMP)
	$(PY) scripts/benchmark.py --output_dir=$(REFERENCE)/benchmarks $(BENCH_ARGS)

# On a GPU machine with JAX and no TensorFlow: see scripts/gpu_check.sh and docs/backends_and_gpu.md.
gpu-check:
	bash scripts/gpu_check.sh $(if $(DATA_DIR),$(DATA_DIR))

# The demo runs two jobs at once: most of its small steps are TensorFlow start-up. Its task is the digits shifted on
# a larger canvas, where labelled noise teaches less than most autoencoders' samples (results/shifted_digits/).
demo: | $(STAMP)
	$(MAKE) --no-print-directory -j$(DEMO_JOBS) shifted_digits

# Settings stamps. RESULTS/<dataset>/settings/<stage>.txt holds the settings that stage's outputs were made with:
# its flags, the seed, the backend, the DAE noise candidates, the report's command. When a setting changes (say
# CRITERION=fd, SMOKE=0 after SMOKE=1, or another EVAL_ARGS in the same RESULTS), that stage's stamp is rewritten
# first, so the stage and everything made from it are redone, not silently reused. `make -n` shows this without
# writing anything. A run folder made before the stamps existed has none: it is redone in full.
STAGES := train search noises sample eval eval_balanced report
settings_train = $($(1)_FLAGS) --seed=$(SEED) $(TRAIN_ARGS) backend=$(or $(KERAS_BACKEND),tensorflow)
settings_search = --criterion=$(CRITERION) $(RECIPE_SETTING) $(SEARCH_ARGS)
settings_noises = $($(1)_DAE_NOISES)
settings_sample = --num_samples=$(NUM_SAMPLES) $(RECIPE_BALANCE)
settings_eval = $(EVAL_ARGS)
settings_eval_balanced = $(EVAL_ARGS) $(BALANCED_EVAL_ARGS)
settings_report = $(call reproduce_command,$(1)) sources: $(SOURCES) autoencoders: $(AUTOENCODERS)
differs = $(if $(subst x$(1),,x$(2))$(subst x$(2),,x$(1)),yes)
shell_quote = '$(subst ','\'',$(1))'
# SETTINGS_STAMP(stamp, settings): out of date (FORCE) exactly when its text is not the settings. Both sides are
# stripped: GNU make 4.3's $(file <) can keep the final newline inside a call.
define SETTINGS_STAMP
$(1): $(if $(call differs,$(strip $(file < $(1))),$(strip $(2))),FORCE)
	@mkdir -p $$(@D) && printf '%s\n' $(call shell_quote,$(strip $(2))) > $$@
endef

# The committed reports of a run (<dataset>) or a seed spread (<dataset>_seeds) of this RECIPE, which the run is
# compared with and `make publish_` writes: REFERENCE/<dataset>(_seeds) for the paper's recipe,
# REFERENCE/<dataset>_recommended(_seeds) for the recommended one. Where none is committed, comparison.md says so.
# (Continual runs, split_<dataset>, keep one folder whatever the recipe.)
reference_folder = $(REFERENCE)/$(if $(and $(RECIPE_SETTING),$(filter-out split_%,$(1))),$(patsubst \
  %_seeds_recommended,%_recommended_seeds,$(1)_recommended),$(1))

# EXPERIMENT(dataset, extra data flags, prerequisite of every model)
define EXPERIMENT
$(1)_DIR := $(RESULTS)/$(1)
$(1)_FLAGS := --dataset=$(1) $(DATA_FLAGS) $(2)

$(1): $$($(1)_DIR)/comparison.md

$$($(1)_DIR)/comparison.md: $$($(1)_DIR)/table.md $(wildcard $(call reference_folder,$(1))/metrics.json)
	$(PY) scripts/compare.py --reference=$(call reference_folder,$(1))/metrics.json --run=$$($(1)_DIR)/metrics.json \
	  --output=$$@

$$($(1)_DIR)/models/classifier.keras: $(3) $$($(1)_DIR)/settings/train.txt | $(STAMP)
	$(PY) scripts/train.py $$($(1)_FLAGS) --model=classifier --seed=$(SEED) --output=$$@ $(TRAIN_ARGS)

$$($(1)_DIR)/models/%.keras: $(3) $$($(1)_DIR)/settings/train.txt | $(STAMP)
	$(PY) scripts/train.py $$($(1)_FLAGS) --model=$$* --seed=$(SEED) --output=$$@ $(TRAIN_ARGS)

$$($(1)_DIR)/lambda/%.json: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/settings/search.txt
	$(PY) scripts/search_lambda.py $$($(1)_FLAGS) --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --seed=$(SEED) --recipe=$(RECIPE) --criterion=$(CRITERION) --output=$$@ $(SEARCH_ARGS)

$$($(1)_DIR)/samples/%.npz: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/lambda/%.json $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/settings/sample.txt
	$(PY) scripts/sample.py $$($(1)_FLAGS) --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --chains_file=$$($(1)_DIR)/lambda/$$*.json --num_samples=$(NUM_SAMPLES) --seed=$(SEED) --output=$$@ $(RECIPE_BALANCE)

$$($(1)_DIR)/labelled/%.npz: $$($(1)_DIR)/samples/%.npz $$($(1)_DIR)/models/classifier.keras
	$(PY) scripts/label.py --samples=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --output=$$@

$(foreach b,upper_bound class_moments_bound moments_bound lower_bound,$$($(1)_DIR)/curves/$(b).csv): $$($(1)_DIR)/curves/%.csv: $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/settings/eval.txt
	$(PY) scripts/evaluate.py $$($(1)_FLAGS) --source=$$* --classifier=$$< --seed=$(SEED) --output=$$@ $(EVAL_ARGS)

$$($(1)_DIR)/curves/%.csv: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/lambda/%.json $$($(1)_DIR)/settings/eval.txt
	$(PY) scripts/evaluate.py $$($(1)_FLAGS) --source=$$* --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --chains_file=$$($(1)_DIR)/lambda/$$*.json --seed=$(SEED) --output=$$@ $(EVAL_ARGS)

$$($(1)_DIR)/curves/%_fd.csv: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/lambda/%.json $$($(1)_DIR)/settings/eval.txt
	$(PY) scripts/evaluate.py $$($(1)_FLAGS) --source=$$*_fd --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --chains_file=$$($(1)_DIR)/lambda/$$*.json --chains_choice=fd --seed=$(SEED) --output=$$@ $(EVAL_ARGS)

$(foreach a,$(AUTOENCODERS),$$($(1)_DIR)/curves/$(a)_balanced.csv): $$($(1)_DIR)/curves/%_balanced.csv: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/lambda/%.json $$($(1)_DIR)/settings/eval_balanced.txt
	$(PY) scripts/evaluate.py $$($(1)_FLAGS) --source=$$*_balanced --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --chains_file=$$($(1)_DIR)/lambda/$$*.json --chains_choice=student --balance_classes --seed=$(SEED) --output=$$@ $(EVAL_ARGS) $(BALANCED_EVAL_ARGS)

$$($(1)_DIR)/curves/%_fd_balanced.csv: $$($(1)_DIR)/models/%.keras $$($(1)_DIR)/models/classifier.keras $$($(1)_DIR)/lambda/%.json $$($(1)_DIR)/settings/eval_balanced.txt
	$(PY) scripts/evaluate.py $$($(1)_FLAGS) --source=$$*_fd_balanced --autoencoder=$$< --classifier=$$($(1)_DIR)/models/classifier.keras --chains_file=$$($(1)_DIR)/lambda/$$*.json --chains_choice=fd --balance_classes --seed=$(SEED) --output=$$@ $(EVAL_ARGS) $(BALANCED_EVAL_ARGS)

$$($(1)_DIR)/table.md: $(foreach s,$(MAKE_ORDER_SOURCES),$$($(1)_DIR)/curves/$(s).csv) $(foreach a,$(AUTOENCODERS),$$($(1)_DIR)/labelled/$(a).npz) \
  $$($(1)_DIR)/settings/report.txt
	$(PY) scripts/report.py --dataset=$(1) --output_dir=$$($(1)_DIR) --reproduce_command="$(call reproduce_command,$(1))" \
	  --classifier_record=$$($(1)_DIR)/models/classifier.json \
	  --curves=$$(call join_commas,$(foreach s,$(SOURCES),$$($(1)_DIR)/curves/$(s).csv)) \
	  --samples=$$(call join_commas,$(foreach a,$(AUTOENCODERS),$$($(1)_DIR)/labelled/$(a).npz)) \
	  --lambda_searches=$$(call join_commas,$(foreach a,$(AUTOENCODERS),$$($(1)_DIR)/lambda/$(a).json))
endef

# Seed spread: `make <dataset>_seeds SEEDS="0 1 2"` runs the whole protocol once per seed, each in
# RESULTS/seeds/<seed>/<dataset> (its own classifier, autoencoders, λ searches and curves), and summarises the
# runs as mean ± spread per source in RESULTS/<dataset>_seeds (scripts/seed_spread.py), compared with the
# committed spread of the same recipe (comparison.md: do the means agree within the seed spread?). Every other
# variable (DATA_DIR, CRITERION, SMOKE, ...) reaches each seed's run.
SEEDS ?= 0 1 2
define SEED_SPREAD
$(1)_seeds: $(RESULTS)/$(1)_seeds/comparison.md

$(RESULTS)/$(1)_seeds/comparison.md: $(RESULTS)/$(1)_seeds/table.md \
  $(wildcard $(call reference_folder,$(1)_seeds)/metrics.json)
	$(PY) scripts/compare.py --reference=$(call reference_folder,$(1)_seeds)/metrics.json \
	  --run=$(RESULTS)/$(1)_seeds/metrics.json --output=$$@

$(RESULTS)/seeds/%/$(1)/table.md: FORCE
	$$(MAKE) --no-print-directory $$@ RESULTS=$(RESULTS)/seeds/$$* SEED=$$*

$(RESULTS)/$(1)_seeds/table.md: $(foreach s,$(SEEDS),$(RESULTS)/seeds/$(s)/$(1)/table.md)
	$(PY) scripts/seed_spread.py --runs=$$(call join_commas,$(foreach s,$(SEEDS),$(RESULTS)/seeds/$(s)/$(1))) \
	  --output_dir=$(RESULTS)/$(1)_seeds --reproduce_command="$$(call reproduce_command,$(1)_seeds) SEEDS='$(SEEDS)'"
endef

# DAE_CANDIDATE(dataset, dae, noise tag, prerequisite of every model)
define DAE_CANDIDATE
$$($(1)_DIR)/models/$(2)_$(3).keras: $(4) $$($(1)_DIR)/settings/train.txt | $(STAMP)
	$(PY) scripts/train.py $$($(1)_FLAGS) --model=$(2)$(call noise_flags,$(3)) --seed=$(SEED) --output=$$@ $(TRAIN_ARGS)
endef

# DAE_CHOICE(dataset, dae): the candidate whose λ search scored best becomes the DAE.
define DAE_CHOICE
$(1)_$(2)_SEARCHES := $(foreach t,$($(1)_DAE_NOISES),$$($(1)_DIR)/lambda/$(2)_$(t).json)
$$($(1)_DIR)/models/$(2).keras $$($(1)_DIR)/lambda/$(2).json &: $$($(1)_$(2)_SEARCHES) $$($(1)_DIR)/settings/noises.txt
	$(PY) scripts/choose_noise.py --searches=$$(call join_commas,$$($(1)_$(2)_SEARCHES)) \
	  --model_output=$$($(1)_DIR)/models/$(2).keras --search_output=$$($(1)_DIR)/lambda/$(2).json
endef

# DAE_NOISE_SEARCH(dataset, prerequisite of every model)
DAE_NOISE_SEARCH = $(foreach d,$(DAES),$(foreach t,$($(1)_DAE_NOISES),$(eval $(call DAE_CANDIDATE,$(1),$(d),$(t),$(2))))$(eval $(call DAE_CHOICE,$(1),$(d))))

# CIFAR runs on ResNet50 features, extracted once into the dataset's cache.
define FEATURES
$(1)_CACHE := $(RESULTS)/$(1)/cache/$(1)_resnet50_$(WEIGHTS_TAG)_$(IMAGE_SIZE)px.npz
$(1)_FEATURE_FLAGS := --cache_dir=$(RESULTS)/$(1)/cache --resnet_weights=$(RESNET_WEIGHTS) --image_size=$(IMAGE_SIZE)

$$($(1)_CACHE): | $(STAMP)
	$(PY) scripts/extract_features.py --dataset=$(1) $(DATA_FLAGS) $$($(1)_FEATURE_FLAGS)
endef

$(eval $(call FEATURES,cifar10))
$(eval $(call FEATURES,cifar100))
$(eval $(call EXPERIMENT,digits,,))
$(eval $(call EXPERIMENT,shifted_digits,,))
$(eval $(call EXPERIMENT,mnist,,))
$(eval $(call EXPERIMENT,fashion_mnist,,))
$(eval $(call EXPERIMENT,cifar10,$(cifar10_FEATURE_FLAGS),$(cifar10_CACHE)))
$(eval $(call EXPERIMENT,cifar100,$(cifar100_FEATURE_FLAGS),$(cifar100_CACHE)))
$(call DAE_NOISE_SEARCH,digits,)
$(call DAE_NOISE_SEARCH,shifted_digits,)
$(call DAE_NOISE_SEARCH,mnist,)
$(call DAE_NOISE_SEARCH,fashion_mnist,)
$(call DAE_NOISE_SEARCH,cifar10,$(cifar10_CACHE))
$(call DAE_NOISE_SEARCH,cifar100,$(cifar100_CACHE))
$(foreach d,$(DATASETS),$(eval $(call SEED_SPREAD,$(d))))
$(foreach d,$(DATASETS),$(foreach s,$(STAGES),$(eval $(call SETTINGS_STAMP,$($(d)_DIR)/settings/$(s).txt,$(call settings_$(s),$(d))))))

# Class-incremental learning by replay (scripts/continual.py): the dataset's classes in 5 tasks learnt in turn, the
# replay methods (none, joint, noise, moments_noise, buffer, reinjection, reinjection_buffer, vae, vae_distill) over
# SPLIT_SEEDS, into RESULTS/split_<dataset>/, with the replay chains of RECIPE. SPLIT_ARGS adds
# flags (e.g. --methods=reinjection,balanced_reinjection --lam=0.1).
SPLIT_SEEDS ?= 0
SPLIT_ARGS ?=
ifeq ($(SMOKE),1)
SPLIT_ARGS := --iterations=5 --lam=0.1 --buffer_per_class=2
endif
SPLIT_DATASETS := digits mnist fashion_mnist cifar10
split_command = $(strip $(if $(filter environment command line,$(origin KERAS_BACKEND)),KERAS_BACKEND=$(KERAS_BACKEND)) \
  make split_$(1) $(if $(filter-out 0,$(SPLIT_SEEDS)),SPLIT_SEEDS=$(call quoted,$(SPLIT_SEEDS))) \
  $(if $(DATA_DIR),DATA_DIR=$(DATA_DIR)) $(if $(filter environment command line,$(origin RECIPE)),RECIPE=$(RECIPE)) \
  $(if $(SPLIT_ARGS),SPLIT_ARGS=$(call quoted,$(SPLIT_ARGS))))
define SPLIT
split_$(1): $(2) | $(STAMP)
	$(PY) scripts/continual.py --dataset=$(1) $(DATA_FLAGS) $(3) --seeds=$$(call join_commas,$(SPLIT_SEEDS)) \
	  --recipe=$(RECIPE) --output_dir=$(RESULTS)/split_$(1) --reproduce_command="$$(call split_command,$(1))" \
	  $(SPLIT_ARGS)
endef
$(eval $(call SPLIT,digits,,))
$(eval $(call SPLIT,mnist,,))
$(eval $(call SPLIT,fashion_mnist,,))
$(eval $(call SPLIT,cifar10,$(cifar10_CACHE),$(cifar10_FEATURE_FLAGS)))
.PHONY: $(SPLIT_DATASETS:%=split_%)

FORCE:

# Intermediate files stay: a second `make` redoes nothing.
.SECONDARY:

# A run's reports (not its models, samples or curves) become the committed reference of its recipe
# (reference_folder); PUBLISH_DIR overrides where.
publish_%:
	@test -f $(RESULTS)/$*/table.md || { echo "error: no report in $(RESULTS)/$*; run make $* first" >&2; exit 1; }
	mkdir -p $(or $(PUBLISH_DIR),$(call reference_folder,$*))
	find $(RESULTS)/$* -maxdepth 1 -type f \( -name '*.md' -o -name '*.csv' -o -name '*.json' -o -name '*.png' \) \
	  ! -name comparison.md -exec cp {} $(or $(PUBLISH_DIR),$(call reference_folder,$*))/ \;

clean:
	rm -rf $(RESULTS)/*/models $(RESULTS)/*/lambda $(RESULTS)/*/samples $(RESULTS)/*/labelled $(RESULTS)/*/curves
