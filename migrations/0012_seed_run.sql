-- Written last by `seed`: a data set without a finished row here is incomplete.
CREATE TABLE seed_run (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    rng_seed    BIGINT        NOT NULL,
    parameters  LONGTEXT      NOT NULL,
    started_at  DATETIME(3)   NOT NULL,
    finished_at DATETIME(3)   NOT NULL
) ENGINE = InnoDB;
