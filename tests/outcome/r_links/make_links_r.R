# R's glm with non-canonical links on cobalt's lalonde, with msm's ATE weights (so only the
# outcome model is compared), for tests/outcome/test_links.py.  Base R only: the sandwiches
# are sandwich's definitions written out (bread.glm = summary$cov.unscaled, i.e. the inverse
# EXPECTED information; estfun.glm = working residuals x working weights x X).
# Run from the repository root: Rscript tests/outcome/r_links/make_links_r.R
d <- read.csv("../shared/data/weightit/lalonde.csv")
wt <- read.csv("tests/outcome/r_links/lalonde_ate_weights.csv")
stopifnot(all(wt$id == d$id))
d$w <- wt$w
d$employed <- as.numeric(d$re78 > 0)
d$re78k <- d$re78 / 1000
ctrl <- glm.control(epsilon = 1e-14, maxit = 500)  # R's default stop is ~1e-6 short
cases <- list(
  list(name = "identity_treat", formula = employed ~ treat, family = binomial(link = "identity")),
  list(name = "log_treat", formula = employed ~ treat, family = binomial(link = "log")),
  list(name = "identity", formula = employed ~ treat + age + educ, family = binomial(link = "identity")),
  list(name = "log", formula = employed ~ treat + age + educ, family = binomial(link = "log")),
  list(name = "probit", formula = employed ~ treat + age + educ, family = binomial(link = "probit")),
  list(name = "cloglog", formula = employed ~ treat + age + educ, family = binomial(link = "cloglog")),
  list(name = "poisson_identity", formula = re78k ~ treat + married, family = poisson(link = "identity"))
)
json_vector <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
out <- character(0)
for (case in cases) {
  fit <- tryCatch(
    suppressWarnings(glm(case$formula, family = case$family, data = d, weights = w,
                         control = ctrl)),
    error = function(e) NULL)
  start <- "R"
  if (is.null(fit)) {  # "no valid set of coefficients": start at the mean outcome, as msm
    y <- model.response(model.frame(case$formula, d))
    k0 <- ncol(model.matrix(case$formula, d))
    b0 <- c(case$family$linkfun(weighted.mean(y, d$w)), rep(0, k0 - 1))
    fit <- suppressWarnings(glm(case$formula, family = case$family, data = d, weights = w,
                                control = ctrl, start = b0))
    start <- "mean"
  }
  # polish: R's rule stops when the deviance no longer changes, which near the optimum (where
  # it is flat) leaves the small coefficients ~1e-7 short (scores ~1e-5 here, at any
  # epsilon); Fisher-scoring steps with R's family functions reach machine precision
  converged <- fit$converged
  X <- model.matrix(fit)
  y <- fit$y
  fam <- fit$family
  b <- coef(fit)
  for (i in 1:50) {
    eta <- drop(X %*% b); mu <- fam$linkinv(eta); dmu <- fam$mu.eta(eta)
    W <- d$w * dmu^2 / fam$variance(mu)
    step <- solve(crossprod(X, W * X), crossprod(X, d$w * (y - mu) * dmu / fam$variance(mu)))
    b <- b + drop(step)
  }
  eta <- drop(X %*% b); mu <- fam$linkinv(eta); dmu <- fam$mu.eta(eta); V <- fam$variance(mu)
  stopifnot(all(mu > 0), fam$family != "binomial" || all(mu < 1))
  # sandwich's estfun.glm (working residual x working weight x X) and bread.glm (the
  # inverse of X' W X with the working weights: the expected information)
  ef <- (d$w * (y - mu) * dmu / V) * X
  B <- solve(crossprod(X, (d$w * dmu^2 / V) * X))
  n <- nrow(X); k <- ncol(X)
  hc0 <- B %*% crossprod(ef) %*% B
  U <- rowsum(ef, d$educ)  # clusters: years of schooling
  G <- nrow(U)
  cl <- B %*% crossprod(U) %*% B
  pearson <- sum(d$w * (y - mu)^2 / V)
  se <- function(v) sqrt(diag(v))
  out <- c(out, sprintf(paste0(
    '"%s": {"formula": "%s", "family": "%s", "link": "%s", "converged": %s, "coef": %s, "coef_glm": %s, ',
    '"se_model1": %s, "se_model": %s, "se_hc0": %s, "se_hc1": %s, "se_cl_hc0": %s, ',
    '"se_cl_cr1": %s, "se_cl_hc1": %s, "n_clusters": %d, "start": "%s"}'),
    case$name, deparse(case$formula), case$family$family, case$family$link,
    tolower(as.character(converged)), json_vector(b), json_vector(coef(fit)), json_vector(se(B)),
    json_vector(se(B * pearson / (n - k))), json_vector(se(hc0)),
    json_vector(se(hc0 * n / (n - k))), json_vector(se(cl)),
    json_vector(se(cl * G / (G - 1))), json_vector(se(cl * G / (G - 1) * (n - 1) / (n - k))),
    G, start))
}
writeLines(c("{", paste0("  ", out, collapse = ",\n"), paste0('  , "R": "', R.version.string, '"'), "}"),
           "tests/outcome/r_links/links_r.json")
