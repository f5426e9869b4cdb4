/*
 * The floor of any metrics path: step every row of a recording's book table through
 * the SQLite C API and touch its text, parsing nothing.
 *
 *     cc -O2 -o scan_floor bench/scan_floor.c -lsqlite3 && ./scan_floor RECORDING.db
 *
 * bench/throughput.py builds and times it beside the real paths, so the table
 * shows how far each path is from merely reading its input.
 */
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s RECORDING.db\n", argv[0]);
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_stmt *stmt;
    const char *sql = "SELECT id, instrument, bids, asks, timestamp FROM book ORDER BY id";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    long long rows = 0, bytes = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        rows++;
        bytes += sqlite3_column_int64(stmt, 0);
        for (int c = 1; c < 5; c++) {
            const unsigned char *text = sqlite3_column_text(stmt, c);
            int n = sqlite3_column_bytes(stmt, c);
            if (text != NULL && n > 0) bytes += text[0] + text[n - 1] + n;
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    printf("%lld rows, checksum %lld\n", rows, bytes);
    return 0;
}
