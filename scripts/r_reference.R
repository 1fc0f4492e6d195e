# R reference values for olsnet's formula tests (tests/data/test_r_parity.py).
#
# Writes R's own data sets (package "datasets", shipped with R) as CSV files into
# tests/data/r/, reads them back as a user would (read.csv, text columns as factors with
# R's default alphabetical levels), fits lm() with R's formula text, and writes the
# coefficients, standard errors, nobs, residual df and predictions on the raw rows
# (newdata = the whole CSV, na.action = na.exclude alignment) to tests/data/r/r_reference.json.
#
# Run from the repository root:   Rscript scripts/r_reference.R
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), Debian bookworm r-base-core.

out_dir <- file.path("tests", "data", "r")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

write_data <- function(df, name) {
  path <- file.path(out_dir, paste0(name, ".csv"))
  # row.names = FALSE; NA written as NA (R's default), numbers with 15 significant digits
  write.csv(df, path, row.names = FALSE)
  read.csv(path, stringsAsFactors = TRUE)
}

num <- function(x) {
  if (length(x) == 0) return("[]")
  s <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  paste0("[", paste(s, collapse = ", "), "]")
}
str_list <- function(x) paste0("[", paste0('"', gsub('"', '\\\\"', x), '"', collapse = ", "), "]")

fits <- list()
add_fit <- function(key, data_name, formula, d) {
  fit <- lm(as.formula(formula), data = d, na.action = na.exclude)
  co <- summary(fit)$coefficients
  pred <- predict(fit, newdata = d)  # NA where a column the formula reads is NA
  fits[[key]] <<- paste0(
    "{", '"data": "', data_name, '.csv", ',
    '"formula": "', formula, '", ',
    '"names": ', str_list(rownames(co)), ", ",
    '"coef": ', num(co[, 1]), ", ",
    '"se": ', num(co[, 2]), ", ",
    '"nobs": ', nobs(fit), ", ",
    '"df_resid": ', fit$df.residual, ", ",
    '"r_squared": ', sprintf("%.17g", summary(fit)$r.squared), ", ",
    '"sigma": ', sprintf("%.17g", summary(fit)$sigma), ", ",
    '"predict_newdata": ', num(unname(pred)), "}"
  )
}

iris_d <- write_data(iris, "iris")
add_fit("iris_factor", "iris", "Sepal.Length ~ Sepal.Width + Petal.Length + factor(Species)", iris_d)
add_fit("iris_dot", "iris", "Sepal.Length ~ .", iris_d)
add_fit("iris_backticks", "iris", "`Sepal.Length` ~ log(`Petal.Width`) + Species", iris_d)

warp_d <- write_data(warpbreaks, "warpbreaks")
add_fit("warpbreaks_interaction", "warpbreaks", "breaks ~ wool * tension", warp_d)

air_d <- write_data(airquality, "airquality")
add_fit("airquality_na", "airquality", "Ozone ~ Solar.R + Wind + Temp + factor(Month)", air_d)

cars_d <- write_data(cars, "cars")
add_fit("cars_power", "cars", "dist ~ speed + I(speed^2)", cars_d)

json <- paste0(
  "{\n",
  '  "generator": "scripts/r_reference.R", "r_version": "', R.version.string, '",\n',
  paste0('  "', names(fits), '": ', unlist(fits), collapse = ",\n"),
  "\n}\n"
)
writeLines(json, file.path(out_dir, "r_reference.json"))
cat("wrote", file.path(out_dir, "r_reference.json"), "\n")
