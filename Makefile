# cotsnet: plain Makefile.
#   make            build bin/cotsnet (CPU build; CUDA objects too when nvcc is found)
#   make test       build and run every test (tests/run.sh), ends with "N passed, N failed"
#   make test SANITIZE=1   the single-process tests under ASan and UBSan
#   make run        train the default job (jobs/default.ini)
#   make deps       install missing Debian packages (as root)
#   make cuda-resources   registers, spills and occupancy of every CUDA kernel (ptxas; no GPU needed)
# Settings are overridable: make CC=clang DEBUG=1 CUDA_HOME=/opt/cuda CUDA_ARCH="80 90"

CC        ?= gcc
PKGS      := ompi-c hdf5-openmpi inih sleef
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= 80 90
DEBUG     ?= 0
SANITIZE  ?= 0
NO_CUDA   ?= 0

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wformat=2 -Wvla -Werror
ifeq ($(DEBUG),1)
OPT    := -O0 -g
else
OPT    := -O2 -g
endif

BUILD  := build
BIN    := bin
ifeq ($(SANITIZE),1)
BUILD  := build/asan
BIN    := build/asan/bin
OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
NO_CUDA := 1
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GIT_REV    := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

CFLAGS  ?=
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(WARN) -fopenmp -I. $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lpng -lz -lm
LDFLAGS += -fopenmp $(filter -fsanitize=%,$(OPT))

# nvcc present? Then cuda/*.cu are built and linked (cudart static, so the binary loads without a driver).
HAVE_NVCC := $(if $(filter 1,$(NO_CUDA)),,$(shell test -x $(NVCC) && echo 1))
CU_SRC    := $(wildcard cuda/*.cu)
CU_OBJ    := $(if $(filter 1,$(HAVE_NVCC)),$(patsubst %.cu,$(BUILD)/%.o,$(CU_SRC)))
NVFLAGS   := -O3 -lineinfo -std=c++17 $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
             -Xcompiler -Wall,-Wextra,-fopenmp -I. $(PKG_CFLAGS)
ifeq ($(HAVE_NVCC),1)
ifneq ($(CU_SRC),)
CFLAGS  += -DCN_HAVE_CUDA=1 -I$(CUDA_HOME)/include
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcublas -lcudart_static -ldl -lrt -lpthread -lstdc++
endif
endif

# Every .c under src/, mpi/, io/ is part of the library, except src/main.c.
LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c mpi/*.c io/*.c))
LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(CU_OBJ)
LIB     := $(BUILD)/libcotsnet.a
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# tests/mpi_*.c are multi-rank programs, started by the tests/t_*.sh scripts under mpirun.
MPI_TEST_SRC := $(wildcard tests/mpi_*.c)
TEST_BIN += $(patsubst tests/%.c,$(BUILD)/tests/%,$(MPI_TEST_SRC))
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
DEPS_STAMP := build/.deps-ok

BUILDINFO := -DCN_GIT_REV='"$(GIT_REV)"' -DCN_CC='"$(shell $(CC) --version | head -1)"' \
             -DCN_CFLAGS='"$(OPT) -fopenmp$(if $(filter 1,$(HAVE_NVCC)), nvcc:$(CUDA_ARCH))"'

.PHONY: all deps test run bench clean check-cuda cuda-resources
all: $(DEPS_STAMP) $(BIN)/cotsnet $(TEST_BIN) $(BENCH_BIN)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p build && touch $@

$(BUILD)/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/version.o: CFLAGS += $(BUILDINFO)
# sqrt without errno, so that `omp simd` loops calling it vectorise (src/pool_cpu.c, src/lcn_cpu.c)
$(BUILD)/src/pool_cpu.o $(BUILD)/src/lcn_cpu.o: CFLAGS += -fno-math-errno
$(BUILD)/src/version.o: .FORCE
.FORCE:

$(BUILD)/cuda/%.o: cuda/%.cu $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/cotsnet: $(BUILD)/src/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# make test: every test binary and script; SANITIZE=1 runs only the single-process binaries.
test: all
	@sh tests/run.sh $(BUILD) $(BIN) $(SANITIZE)

run: all
	@sh tools/run_default.sh $(ARGS)

bench: all
	@sh bench/run.sh $(BUILD)

# registers, spills, shared memory and occupancy of every CUDA kernel, from ptxas (no GPU needed)
cuda-resources:
	@test "$(HAVE_NVCC)" = 1 || { echo "make cuda-resources: no nvcc ($(NVCC))"; exit 1; }
	@/usr/bin/python3 bench/cuda_resources.py --nvcc "$(NVCC)" --flags "$(NVFLAGS)" $(CU_SRC)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
