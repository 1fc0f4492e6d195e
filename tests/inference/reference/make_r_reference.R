# R reference values for olsnet's anova, CR2/CR3, CR1, Newey-West and weighted influence.
# Run from the repository root (R 4.2.2, sandwich 3.0-2, clubSandwich 0.5.8, lmtest, jsonlite;
# Debian bookworm packages r-base-core r-cran-sandwich r-cran-clubsandwich r-cran-lmtest):
#   PYTHONPATH=src python tests/inference/reference/export_data.py
#   Rscript tests/inference/reference/make_r_reference.R
# It writes tests/inference/reference/r_reference.json.
suppressMessages({library(sandwich); library(clubSandwich); library(lmtest); library(jsonlite)})
here <- "tests/inference/reference"
g <- read.csv(file.path(here, "grunfeld.csv"))
g$firm <- factor(g$firm)
m1 <- lm(invest ~ value, data = g)
m2 <- lm(invest ~ value + capital, data = g)
m0 <- lm(invest ~ 1, data = g)
a2 <- anova(m1, m2)
a3 <- anova(m0, m1, m2)
tab <- function(a) list(res_df = a$Res.Df, rss = a$RSS, df = a$Df, ss = a[["Sum of Sq"]],
                        f = a$F, p = a[["Pr(>F)"]])
# robust anova: Wald test of the added coefficient with the larger model's HC3 covariance
w3 <- waldtest(m1, m2, vcov = vcovHC(m2, type = "HC3"), test = "F")
out <- list(
  anova_two = tab(a2),
  anova_three = tab(a3),
  waldtest_hc3 = list(f = w3$F[2], p = w3[["Pr(>F)"]][2], df = w3$Df[2]),
  cr1_vcovCL = unname(as.matrix(vcovCL(m2, cluster = ~firm, type = "HC1"))),
  cr2 = unname(as.matrix(vcovCR(m2, cluster = g$firm, type = "CR2"))),
  cr3 = unname(as.matrix(vcovCR(m2, cluster = g$firm, type = "CR3"))),
  r_version = R.version.string,
  clubSandwich = as.character(packageVersion("clubSandwich")),
  sandwich = as.character(packageVersion("sandwich"))
)
# weighted influence (R's lm.influence for a WLS fit), weights 1 + (row %% 5) / 2, one zero
gw <- g
gw$w <- 1 + (seq_len(nrow(gw)) %% 5) / 2
gw$w[7] <- 0
mw <- lm(invest ~ value + capital, data = gw, weights = w)
keep <- gw$w > 0
out$weighted <- list(
  weights = gw$w,
  hat = unname(hatvalues(mw)),
  rstandard = unname(rstandard(mw)),
  rstudent = unname(rstudent(mw)),
  cooks = unname(cooks.distance(mw)),
  dfbetas = unname(as.matrix(dfbetas(mw))),
  dffits = unname(dffits(mw)),
  kept_rows = which(keep) - 1
)
# Newey-West on macrodata growth rates
md <- read.csv(file.path(here, "macrodata.csv"))
gr <- function(x) diff(x) / head(x, -1)
d <- data.frame(inv = gr(md$realinv), gdp = gr(md$realgdp), cons = gr(md$realcons))
mh <- lm(inv ~ gdp + cons, data = d)
out$newey_west_lag4 <- unname(as.matrix(NeweyWest(mh, lag = 4, prewhite = FALSE, adjust = FALSE)))
out$newey_west_lag4_adjusted <- unname(as.matrix(NeweyWest(mh, lag = 4, prewhite = FALSE, adjust = TRUE)))
# summary.lm lines: residual quantiles and residual standard error
s <- summary(m2)
out$summary_lm <- list(quantiles = unname(quantile(residuals(m2))), sigma = s$sigma, df = s$df[2])
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), file.path(here, "r_reference.json"))
cat("wrote", file.path(here, "r_reference.json"), "\n")
