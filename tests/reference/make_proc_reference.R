# Reference values for hstrat's DeLong and bootstrap statistics, computed with R's pROC.
#
# Run from the repository root:
#
#     Rscript tests/reference/make_proc_reference.R
#
# It writes tests/reference/proc_reference.json, which holds the datasets themselves
# (labels and scores, generated here from fixed seeds) next to what pROC reports for
# them, so the Python tests never need R. The stored file was produced with
# pROC 1.18.0 on R 4.2.2 (both versions are also recorded inside the JSON).
#
# Conventions:
# - every ROC curve is built with roc(response, predictor, levels = c(0, 1),
#   direction = "<", quiet = TRUE): 0 = control (negative), 1 = case (positive), a
#   higher score means "more likely positive", and pROC never flips the curve;
# - scores are rounded to 4 decimals (or are small integers / 1-decimal values on
#   purpose) so that the decimal text in the JSON is read back as the very same
#   doubles by R and Python, and ties are identical in both;
# - var(roc) is DeLong's variance; ci.auc(method = "delong") is AUC +- z * sqrt(var)
#   clipped to [0, 1]; roc.test(method = "delong", paired = TRUE) returns the Z
#   statistic, the two-sided p-value and, since pROC 1.16, conf.int: the Wald interval
#   d +- z * sd(d) for d = AUC1 - AUC2 (NOT clipped to [-1, 1]);
# - bootstrap CIs (ci.auc(method = "bootstrap", boot.stratified = TRUE)) are the
#   2.5% / 97.5% quantiles (type 7) of 2000 stratified resamples; they depend on R's
#   random stream and can only be compared statistically.

suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

set.seed(20240501)

r4 <- function(x) as.numeric(sprintf("%.4f", x))

shuffle <- function(y, s) {
  o <- sample.int(length(y))
  list(y = y[o], s = s[o])
}

make_roc <- function(y, s) {
  roc(y, s, levels = c(0, 1), direction = "<", quiet = TRUE)
}

na_null <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NA_real_ else as.numeric(x)

delong_entry <- function(name, description, y, s) {
  # seed of the bootstrap: 1000 + the dataset's position in `single` (a global list)
  boot_seed <- 1000 + length(single) + 1
  r <- make_roc(y, s)
  ci95 <- suppressWarnings(ci.auc(r, method = "delong", conf.level = 0.95))
  ci90 <- suppressWarnings(ci.auc(r, method = "delong", conf.level = 0.90))
  v <- suppressWarnings(var(r, method = "delong"))
  boot <- NA
  if (sum(y == 1) >= 2 && sum(y == 0) >= 2) {
    set.seed(boot_seed)
    b <- suppressWarnings(ci.auc(r,
      method = "bootstrap", boot.n = 2000, boot.stratified = TRUE,
      conf.level = 0.95, progress = "none"
    ))
    boot <- list(
      boot_n = 2000, stratified = TRUE, conf_level = 0.95, seed = boot_seed,
      ci_low = as.numeric(b[1]), median = as.numeric(b[2]), ci_high = as.numeric(b[3])
    )
  }
  list(
    name = name,
    description = description,
    n_pos = sum(y == 1),
    n_neg = sum(y == 0),
    y_true = as.integer(y),
    y_score = s,
    auc = as.numeric(auc(r)),
    var = na_null(v),
    ci_delong_95 = list(ci_low = na_null(ci95[1]), ci_high = na_null(ci95[3])),
    ci_delong_90 = list(ci_low = na_null(ci90[1]), ci_high = na_null(ci90[3])),
    ci_bootstrap_95 = boot
  )
}

paired_entry <- function(name, description, y, s1, s2) {
  r1 <- make_roc(y, s1)
  r2 <- make_roc(y, s2)
  test <- function(level) {
    t <- roc.test(r1, r2, method = "delong", paired = TRUE, conf.level = level)
    list(
      conf_level = level,
      statistic = as.numeric(t$statistic),
      p_value = as.numeric(t$p.value),
      ci_low = as.numeric(t$conf.int[1]),
      ci_high = as.numeric(t$conf.int[2])
    )
  }
  list(
    name = name,
    description = description,
    n_pos = sum(y == 1),
    n_neg = sum(y == 0),
    y_true = as.integer(y),
    score_a = s1,
    score_b = s2,
    auc_a = as.numeric(auc(r1)),
    auc_b = as.numeric(auc(r2)),
    var_a = as.numeric(var(r1, method = "delong")),
    var_b = as.numeric(var(r2, method = "delong")),
    cov_ab = as.numeric(cov(r1, r2, method = "delong")),
    test_95 = test(0.95),
    test_90 = test(0.90)
  )
}

single <- list()

# 1. Continuous binormal scores, 60 positives / 140 negatives.
d <- shuffle(c(rep(1, 60), rep(0, 140)), r4(c(rnorm(60, 1, 1), rnorm(140, 0, 1))))
single[[length(single) + 1]] <- delong_entry(
  "continuous", "binormal N(1,1) vs N(0,1), 60 pos / 140 neg, 4 decimals", d$y, d$s
)

# 2. Heavily tied: integer ratings 1-5.
d <- shuffle(
  c(rep(1, 50), rep(0, 70)),
  c(
    sample(1:5, 50, replace = TRUE, prob = c(0.05, 0.1, 0.2, 0.3, 0.35)),
    sample(1:5, 70, replace = TRUE, prob = c(0.3, 0.3, 0.2, 0.1, 0.1))
  )
)
single[[length(single) + 1]] <- delong_entry(
  "ratings", "integer ratings 1-5 (heavy ties), 50 pos / 70 neg", d$y, as.numeric(d$s)
)

# 3. Heavily tied: continuous scores rounded to one decimal.
d <- shuffle(c(rep(1, 40), rep(0, 110)), round(c(rnorm(40, 0.8, 0.6), rnorm(110, 0, 0.6)), 1))
single[[length(single) + 1]] <- delong_entry(
  "rounded", "binormal rounded to 1 decimal (ties), 40 pos / 110 neg", d$y, r4(d$s)
)

# 4. Small: 5 positives / 7 negatives, with one tie across the classes.
s <- r4(c(runif(5, 0.3, 1), runif(7, 0, 0.7)))
s[12] <- s[1]
d <- shuffle(c(rep(1, 5), rep(0, 7)), s)
single[[length(single) + 1]] <- delong_entry(
  "small", "uniform scores, 5 pos / 7 neg, one positive-negative tie", d$y, d$s
)

# 5. Unbalanced: 10 positives / 500 negatives.
d <- shuffle(c(rep(1, 10), rep(0, 500)), r4(c(rnorm(10, 1.5, 1), rnorm(500, 0, 1))))
single[[length(single) + 1]] <- delong_entry(
  "unbalanced", "binormal N(1.5,1) vs N(0,1), 10 pos / 500 neg", d$y, d$s
)

# 6. Perfect separation: AUC 1, variance 0, interval [1, 1].
d <- shuffle(c(rep(1, 8), rep(0, 12)), r4(c(runif(8, 0.6, 1), runif(12, 0, 0.5))))
single[[length(single) + 1]] <- delong_entry(
  "perfect", "perfect separation, 8 pos / 12 neg", d$y, d$s
)

# 7. Worse than chance (direction is fixed, so pROC does not flip it).
d <- shuffle(c(rep(1, 30), rep(0, 45)), r4(c(rnorm(30, -0.7, 1), rnorm(45, 0, 1))))
single[[length(single) + 1]] <- delong_entry(
  "inverted", "positives score lower: N(-0.7,1) vs N(0,1), 30 pos / 45 neg", d$y, d$s
)

# 8. One positive: the AUC exists, DeLong's variance does not (pROC gives NA).
d <- shuffle(c(1, rep(0, 9)), r4(c(0.8, runif(9))))
single[[length(single) + 1]] <- delong_entry(
  "single_positive", "1 pos / 9 neg: AUC defined, variance NA", d$y, d$s
)

paired <- list()

# Paired: two correlated models on the same cases; model b has ties (1 decimal).
n_pos <- 80
n_neg <- 100
y <- c(rep(1, n_pos), rep(0, n_neg))
latent <- rnorm(n_pos + n_neg) + 1.1 * y
s1 <- r4(latent + rnorm(n_pos + n_neg, 0, 0.6))
s2 <- round(0.4 * latent + rnorm(n_pos + n_neg, 0, 1), 1)
o <- sample.int(length(y))
paired[[length(paired) + 1]] <- paired_entry(
  "correlated", "two correlated models, 80 pos / 100 neg; b rounded to 1 decimal (ties)",
  y[o], s1[o], r4(s2[o])
)

# Paired, small, both tie-heavy (ratings).
y <- c(rep(1, 12), rep(0, 15))
s1 <- c(sample(2:5, 12, replace = TRUE), sample(1:4, 15, replace = TRUE))
s2 <- pmin(5, pmax(1, s1 + sample(-1:1, 27, replace = TRUE)))
o <- sample.int(length(y))
paired[[length(paired) + 1]] <- paired_entry(
  "ratings_small", "two rating models (1-5), 12 pos / 15 neg, both tie-heavy",
  y[o], as.numeric(s1[o]), as.numeric(s2[o])
)

# Paired, nearly equal AUCs (large p-value).
y <- c(rep(1, 50), rep(0, 50))
base <- rnorm(100) + 0.9 * y
s1 <- r4(base + rnorm(100, 0, 0.5))
s2 <- r4(base + rnorm(100, 0, 0.5))
o <- sample.int(length(y))
paired[[length(paired) + 1]] <- paired_entry(
  "similar", "two similar models, 50 pos / 50 neg", y[o], s1[o], s2[o]
)

out <- list(
  generator = "tests/reference/make_proc_reference.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  proc_version = as.character(packageVersion("pROC")),
  seed = 20240501,
  notes = paste(
    "roc(levels = c(0, 1), direction = '<'); var = var(roc, method = 'delong');",
    "ci_delong_* = ci.auc(method = 'delong') (clipped to [0, 1]);",
    "test_* = roc.test(method = 'delong', paired = TRUE): statistic Z, two-sided p.value,",
    "conf.int = d +- z sd(d) for d = AUC(a) - AUC(b), not clipped;",
    "ci_bootstrap_95 = ci.auc(method = 'bootstrap', boot.n = 2000, boot.stratified = TRUE)",
    "with set.seed(seed): quantile type 7 of R's resamples (statistical comparison only)."
  ),
  single = single,
  paired = paired
)

path <- file.path("tests", "reference", "proc_reference.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), path)
cat("wrote", path, "with pROC", out$proc_version, "on R", out$r_version, "\n")
