//! The SQL the library runs, loaded from the `.sql` files under `crates/chrononaut/sql/`.

pub(crate) const INSTALL_START: &str = include_str!("../sql/install_start.sql");
pub(crate) const INSTALL: &str = include_str!("../sql/install.sql");
pub(crate) const CAPTURE: &str = include_str!("../sql/capture.sql");
pub(crate) const CAPTURE_DELETE_ROWS: &str = include_str!("../sql/capture_delete_rows.sql");
pub(crate) const CHAIN_PROBE: &str = include_str!("../sql/chain/probe.sql");
pub(crate) const CHAIN_LINK: &str = include_str!("../sql/chain/link.sql");
pub(crate) const PROBE_INSERT: &str = include_str!("../sql/probe/insert.sql");
pub(crate) const PROBE_FIXUP: &str = include_str!("../sql/probe/fixup.sql");
pub(crate) const HEADS_INSTALL: &str = include_str!("../sql/heads/install.sql");
pub(crate) const HEADS_INSERT: &str = include_str!("../sql/heads/insert.sql");
pub(crate) const HEADS_FIXUP: &str = include_str!("../sql/heads/fixup.sql");
pub(crate) const HEADS_LATEST: &str = include_str!("../sql/heads/latest.sql");
pub(crate) const HEADS_WRITE: &str = include_str!("../sql/heads/write.sql");
pub(crate) const PARTITION_REINDEX_DEFAULT: &str =
    include_str!("../sql/partition/reindex_default.sql");
pub(crate) const PRUNE_FUNCTIONS: &str = include_str!("../sql/prune/functions.sql");
pub(crate) const PRUNE_PLAN: &str = include_str!("../sql/prune/plan.sql");
pub(crate) const PRUNE_COUNT: &str = include_str!("../sql/prune/count.sql");
pub(crate) const PRUNE_CHECKPOINTS_COUNT: &str = include_str!("../sql/prune/checkpoints_count.sql");
pub(crate) const PRUNE_ROWS: &str = include_str!("../sql/prune/rows.sql");
pub(crate) const PRUNE_APPLY: &str = include_str!("../sql/prune/apply.sql");
pub(crate) const PRUNE_LIST: &str = include_str!("../sql/prune/list.sql");
pub(crate) const PRUNE_POLICY: &str = include_str!("../sql/prune/policy.sql");
pub(crate) const RECORD_CHANGES: &str = include_str!("../sql/record_changes.sql");
pub(crate) const UNTRACK: &str = include_str!("../sql/untrack.sql");
pub(crate) const INTEGRITY_FUNCTIONS: &str = include_str!("../sql/integrity/functions.sql");
pub(crate) const LOCKING_FUNCTIONS: &str = include_str!("../sql/locking/functions.sql");
pub(crate) const VISIBILITY: &str = include_str!("../sql/visibility.sql");
pub(crate) const EXPECT_VERSION: &str = include_str!("../sql/locking/expect_version.sql");
pub(crate) const LIST_LOCKS: &str = include_str!("../sql/locking/list.sql");
pub(crate) const LOCK_EVENTS: &str = include_str!("../sql/locking/events.sql");
pub(crate) const VERIFY: &str = include_str!("../sql/integrity/verify.sql");
pub(crate) const DIGEST: &str = include_str!("../sql/integrity/digest.sql");
pub(crate) const DIGEST_SETTLED: &str = include_str!("../sql/integrity/digest_settled.sql");

pub(crate) const RESOLVE_TABLE: &str = include_str!("../sql/queries/resolve_table.sql");
pub(crate) const TABLE_COLUMNS: &str = include_str!("../sql/queries/table_columns.sql");
pub(crate) const PRIMARY_KEY: &str = include_str!("../sql/queries/primary_key.sql");
pub(crate) const TRACKED_UPSERT: &str = include_str!("../sql/queries/tracked_upsert.sql");
pub(crate) const HISTORY_NAME_TAKEN: &str = include_str!("../sql/queries/history_name_taken.sql");
pub(crate) const KEY_OPERATORS: &str = include_str!("../sql/queries/key_operators.sql");
pub(crate) const APPLY_CONTEXT: &str = include_str!("../sql/queries/apply_context.sql");
pub(crate) const INSTALLED: &str = include_str!("../sql/queries/installed.sql");
pub(crate) const META_EXISTS: &str = include_str!("../sql/queries/meta_exists.sql");
pub(crate) const DDL_LOCK: &str = include_str!("../sql/queries/ddl_lock.sql");
pub(crate) const ACTIVITY_COLUMNS: &str = include_str!("../sql/queries/activity_columns.sql");
pub(crate) const STATUS: &str = include_str!("../sql/queries/status.sql");
pub(crate) const KEY_COLUMNS: &str = include_str!("../sql/history/key_columns.sql");
pub(crate) const TRACKED_OPTIONS: &str = include_str!("../sql/history/tracked_options.sql");
pub(crate) const RECORD_HISTORY: &str = include_str!("../sql/history/record_history.sql");
pub(crate) const ACTIVITY_TABLE: &str = include_str!("../sql/history/activity_table.sql");
pub(crate) const ACTIVITY_KEY: &str = include_str!("../sql/history/activity_key.sql");
pub(crate) const ACTIVITY_USER_TABLE: &str = include_str!("../sql/history/activity_user_table.sql");
pub(crate) const ACTIVITY_USER_ALL: &str = include_str!("../sql/history/activity_user_all.sql");
pub(crate) const ACTIVITY_ALL: &str = include_str!("../sql/history/activity_all.sql");
pub(crate) const ACTIVITY_SPAN: &str = include_str!("../sql/history/activity_span.sql");
pub(crate) const OPTIONS_BY_NAME: &str = include_str!("../sql/history/options_by_name.sql");
pub(crate) const AS_OF: &str = include_str!("../sql/history/as_of.sql");
pub(crate) const BASELINE: &str = include_str!("../sql/history/baseline.sql");
pub(crate) const RESTORE_COLUMNS: &str = include_str!("../sql/history/restore_columns.sql");
pub(crate) const HISTORY_FUNCTIONS: &str = include_str!("../sql/history/functions.sql");
pub(crate) const HISTORY_COUNTS: &str = include_str!("../sql/queries/history_counts.sql");
pub(crate) const PARTITION_CREATE: &str = include_str!("../sql/partition/create.sql");
pub(crate) const PARTITION_FUNCTIONS: &str = include_str!("../sql/partition/functions.sql");
pub(crate) const PARTITION_CONVERT: &str = include_str!("../sql/partition/convert.sql");
pub(crate) const PARTITION_CONVERTED_ROWS: &str =
    include_str!("../sql/partition/converted_rows.sql");
pub(crate) const PARTITION_PLAN: &str = include_str!("../sql/partition/plan.sql");
pub(crate) const PARTITION_PLAN_TOTALS: &str = include_str!("../sql/partition/plan_totals.sql");
pub(crate) const PARTITION_LIST: &str = include_str!("../sql/partition/list.sql");
pub(crate) const PARTITION_META: &str = include_str!("../sql/partition/meta.sql");
pub(crate) const PARTITION_MAINTAIN: &str = include_str!("../sql/partition/maintain.sql");
pub(crate) const PARTITION_FUNCTIONS_EXIST: &str =
    include_str!("../sql/partition/functions_exist.sql");
pub(crate) const PARTITION_MAY_MAINTAIN: &str = include_str!("../sql/partition/may_maintain.sql");
pub(crate) const PARTITION_IS_PARTITIONED: &str =
    include_str!("../sql/partition/is_partitioned.sql");

/// Fills `{{name}}` placeholders of a runtime query in one strict pass (see
/// [`crate::template`]); values must be SQL already quoted by [`crate::ident`]. Generated DDL
/// uses [`crate::template::fill`], whose values are typed.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> crate::error::Result<String> {
    crate::template::fill_text(template, values)
}

/// [`fill`] for one set of values that serves several templates: those whose placeholder the
/// template has are used.
pub(crate) fn fill_some(template: &str, values: &[(&str, &str)]) -> crate::error::Result<String> {
    crate::template::fill_text_some(template, values)
}
