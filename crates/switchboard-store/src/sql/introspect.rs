//! Reads each table's keys, constraints and row-level-security flags from the live catalog, so the
//! tenancy rules are checked against what the migrations really built.

use super::{Dialect, SqlStore};
use crate::schema::{ForeignKey, TableShape};
use crate::StoreError;
use sqlx::AnyPool;
use sqlx::Row;

/// Every application table of the store's database with its shape.
pub async fn introspect_schema(store: &SqlStore) -> Result<Vec<TableShape>, StoreError> {
    match store.dialect() {
        Dialect::Sqlite => sqlite(store.writer_pool()).await,
        Dialect::Postgres => postgres(store.writer_pool()).await,
    }
}

fn split(cols: &str) -> Vec<String> {
    cols.split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn sqlite(pool: &AnyPool) -> Result<Vec<TableShape>, StoreError> {
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("name"))
    .collect::<Result<_, _>>()?;

    let mut out = Vec::new();
    for name in names {
        let mut shape = TableShape {
            name: name.clone(),
            ..Default::default()
        };
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in sqlx::query("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&name)
            .fetch_all(pool)
            .await?
        {
            let col: String = r.try_get("name")?;
            let pos: i64 = r.try_get("pk")?;
            if pos > 0 {
                pk.push((pos, col.clone()));
            }
            shape.columns.push(col);
        }
        pk.sort();
        shape.primary_key = pk.into_iter().map(|(_, c)| c).collect();

        for idx in sqlx::query(
            "SELECT name FROM pragma_index_list($1) WHERE \"unique\" = 1 AND origin <> 'pk'",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let idx_name: String = idx.try_get("name")?;
            let cols = sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&idx_name)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<Vec<_>, _>>()?;
            shape.unique_constraints.push(cols);
        }

        let mut fks: Vec<(i64, ForeignKey)> = Vec::new();
        for r in sqlx::query(
            "SELECT id, \"table\" AS ref_table, \"from\" AS from_col, COALESCE(\"to\", '') AS to_col \
             FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let id: i64 = r.try_get("id")?;
            let from: String = r.try_get("from_col")?;
            let to: String = r.try_get("to_col")?;
            let table: String = r.try_get("ref_table")?;
            match fks.iter_mut().find(|(i, _)| *i == id) {
                Some((_, fk)) => {
                    fk.columns.push(from);
                    fk.references_columns.push(to);
                }
                None => fks.push((
                    id,
                    ForeignKey { columns: vec![from], references_table: table, references_columns: vec![to] },
                )),
            }
        }
        shape.foreign_keys = fks.into_iter().map(|(_, fk)| fk).collect();
        out.push(shape);
    }
    Ok(out)
}

async fn postgres(pool: &AnyPool) -> Result<Vec<TableShape>, StoreError> {
    let tables = sqlx::query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
         AND c.relname NOT LIKE '\\_sqlx%' ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;

    let mut out = Vec::new();
    for t in tables {
        let name: String = t.try_get("name")?;
        let mut shape = TableShape {
            name: name.clone(),
            rls_enabled: Some(t.try_get("rls")?),
            rls_forced: Some(t.try_get("forced")?),
            ..Default::default()
        };
        shape.columns = sqlx::query(
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;

        let cols_of = |key: &str, rel: &str| {
            format!(
                "array_to_string(ARRAY(SELECT a.attname::text FROM unnest(con.{key}) WITH ORDINALITY \
                 k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.{rel} AND a.attnum = k.attnum \
                 ORDER BY k.ord), ',')"
            )
        };
        let sql = format!(
            "SELECT con.contype::text AS kind, {} AS cols, COALESCE(ref.relname::text, '') AS ref_table, \
             COALESCE({}, '') AS ref_cols \
             FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = rel.relnamespace \
             LEFT JOIN pg_class ref ON ref.oid = con.confrelid \
             WHERE n.nspname = current_schema() AND rel.relname = $1 AND con.contype IN ('p', 'u', 'f') \
             ORDER BY con.conname",
            cols_of("conkey", "conrelid"),
            cols_of("confkey", "confrelid")
        );
        for r in sqlx::query(&sql).bind(&name).fetch_all(pool).await? {
            let kind: String = r.try_get("kind")?;
            let cols = split(&r.try_get::<String, _>("cols")?);
            match kind.as_str() {
                "p" => shape.primary_key = cols,
                "u" => shape.unique_constraints.push(cols),
                _ => shape.foreign_keys.push(ForeignKey {
                    columns: cols,
                    references_table: r.try_get("ref_table")?,
                    references_columns: split(&r.try_get::<String, _>("ref_cols")?),
                }),
            }
        }
        // Unique indexes that are not constraints count too.
        for r in sqlx::query(
            "SELECT array_to_string(ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH \
             ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = i.indrelid AND \
             a.attnum = k.attnum ORDER BY k.ord), ',') AS cols \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = $1 AND i.indisunique \
             AND NOT i.indisprimary \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            shape.unique_constraints.push(split(&r.try_get::<String, _>("cols")?));
        }
        out.push(shape);
    }
    Ok(out)
}
