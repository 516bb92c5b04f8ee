using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// A private PostgreSQL 15 cluster for one test class: <c>initdb -A trust</c> in a temporary directory owned by the
/// <c>postgres</c> user, listening on a free port on 127.0.0.1, with a database <c>mqtt</c>. Stopped with
/// <c>pg_ctl stop -m immediate</c> (as a crash) and started again on the same port.
/// </summary>
public sealed class PostgresServer : IAuthBackendServer, ISqlServer
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string _directory;

    private PostgresServer(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Address => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    private string DataDirectory => Path.Combine(_directory, "pg");

    public static async Task<PostgresServer> StartAsync()
    {
        if (!File.Exists(Path.Combine(Bin, "initdb")))
            Assert.Fail($"{Bin}/initdb not found: install the Debian package postgresql-15 (scripts/test.sh does)");
        var directory = Directory.CreateTempSubdirectory("broker-pg-").FullName;
        await Backends.RunAsync("chown", ["postgres:postgres", directory]);
        var server = new PostgresServer(directory, FreePorts.Next());
        await AsPostgres(Path.Combine(Bin, "initdb"), "-D", server.DataDirectory, "-A", "trust", "-U", "postgres", "--no-sync");
        await server.StartProcessAsync();
        await server.PsqlAsync("postgres", "create database mqtt");
        await server.SqlAsync(Schema);
        return server;
    }

    /// <summary>EMQX 4's tables, as plugins/auth_pgsql/README.md shows them.</summary>
    public const string Schema = """
        CREATE TABLE mqtt_user (id SERIAL PRIMARY KEY, username CHARACTER VARYING(100) UNIQUE, password CHARACTER VARYING(128),
          salt CHARACTER VARYING(40), is_superuser BOOLEAN DEFAULT false);
        CREATE TABLE mqtt_acl (id SERIAL PRIMARY KEY, allow INTEGER, ipaddr CHARACTER VARYING(60), username CHARACTER VARYING(100),
          clientid CHARACTER VARYING(100), access INTEGER, topic CHARACTER VARYING(100));
        """;

    public string Plugin => "auth_pgsql";

    public string Conf => $"auth.pgsql.server = {Address}\nauth.pgsql.username = postgres\n";

    public string SaltConf => "auth.pgsql.auth_query = select password, salt from mqtt_user where username = '%u' limit 1\n";

    public Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false) =>
        SqlAsync($"insert into mqtt_user (username, password, salt, is_superuser) values ({Literal(user)}, {Literal(stored)}, {Literal(salt)}, {(superuser ? "true" : "false")}) "
            + "on conflict (username) do update set password = excluded.password, salt = excluded.salt, is_superuser = excluded.is_superuser");

    /// <summary>Empties both tables and restarts the ids the ACL query orders by.</summary>
    public Task ResetAsync() => SqlAsync("truncate mqtt_user, mqtt_acl restart identity");

    public Task AllowAsync(string user, string topic, int access) =>
        SqlAsync($"insert into mqtt_acl (allow, username, access, topic) values (1, {Literal(user)}, {access}, {Literal(topic)})");

    /// <summary>An SQL literal for test data (the tests' own seeding; the plugin never builds SQL from values).</summary>
    public static string Literal(string? value) => value is null ? "NULL" : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public Task StartProcessAsync() => AsPostgres(Path.Combine(Bin, "pg_ctl"), "-D", DataDirectory, "-l", Path.Combine(_directory, "log"), "-w",
        "-o", $"-p {Port.ToString(CultureInfo.InvariantCulture)} -k {_directory} -c listen_addresses=127.0.0.1 -c fsync=off", "start");

    /// <summary>Stops it at once (<c>-m immediate</c>: no shutdown checkpoint, connections cut).</summary>
    public async Task KillAsync() => await AsPostgres(Path.Combine(Bin, "pg_ctl"), "-D", DataDirectory, "-m", "immediate", "-w", "stop");

    /// <summary>Runs SQL in the <c>mqtt</c> database with psql and returns its unaligned output.</summary>
    public Task<string> SqlAsync(string sql) => PsqlAsync("mqtt", sql);

    private Task<string> PsqlAsync(string database, string sql) => Backends.RunAsync(Tools.Require("psql", "postgresql-client"),
        ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]);

    private static Task<string> AsPostgres(string executable, params string[] arguments) =>
        Backends.RunAsync(Tools.Require("runuser", "util-linux"), ["-u", "postgres", "--", executable, .. arguments]);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await AsPostgres(Path.Combine(Bin, "pg_ctl"), "-D", DataDirectory, "-m", "immediate", "stop");
        }
        catch (Exception)
        {
            // already stopped by the test
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
