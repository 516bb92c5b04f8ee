using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// A private MariaDB server for one test class: <c>mariadb-install-db</c> into a temporary directory owned by the
/// <c>mysql</c> user, <c>mariadbd</c> on a free port on 127.0.0.1, a database <c>mqtt</c> and a TCP user
/// <c>mqtt</c>/<c>mqtt-pw</c> (root logs in over the socket only). Killed with SIGKILL and started again on the same port.
/// </summary>
public sealed class MariaDbServer : IAuthBackendServer, ISqlServer
{
    public const string User = "mqtt";
    public const string UserPassword = "mqtt-pw";
    private readonly string _directory;
    private ChildProcess? _process;

    private MariaDbServer(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Address => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    private string Socket => Path.Combine(_directory, "my.sock");

    public static async Task<MariaDbServer> StartAsync()
    {
        var install = Tools.Require("mariadb-install-db", "mariadb-server");
        var directory = Directory.CreateTempSubdirectory("broker-maria-").FullName;
        await Backends.RunAsync("chown", ["mysql:mysql", directory]);
        var server = new MariaDbServer(directory, FreePorts.Next());
        await Backends.RunAsync(install, ["--user=mysql", $"--datadir={Path.Combine(directory, "data")}", "--skip-test-db", "--auth-root-authentication-method=socket"]);
        await server.StartProcessAsync();
        await server.RootSqlAsync($"create database mqtt; create user '{User}'@'127.0.0.1' identified by '{UserPassword}'; grant all on mqtt.* to '{User}'@'127.0.0.1';");
        await server.SqlAsync(Schema);
        return server;
    }

    /// <summary>EMQX 4's tables, as plugins/auth_mysql/README.md shows them.</summary>
    public const string Schema = """
        CREATE TABLE mqtt_user (id INT UNSIGNED NOT NULL AUTO_INCREMENT, username VARCHAR(100) DEFAULT NULL, password VARCHAR(128) DEFAULT NULL,
          salt VARCHAR(35) DEFAULT NULL, is_superuser TINYINT(1) DEFAULT 0, created DATETIME DEFAULT NULL,
          PRIMARY KEY (id), UNIQUE KEY mqtt_username (username)) DEFAULT CHARSET=utf8mb4;
        CREATE TABLE mqtt_acl (id INT UNSIGNED NOT NULL AUTO_INCREMENT, allow INT(1) DEFAULT 1, ipaddr VARCHAR(60) DEFAULT NULL,
          username VARCHAR(100) DEFAULT NULL, clientid VARCHAR(100) DEFAULT NULL, access INT(2) NOT NULL, topic VARCHAR(100) NOT NULL DEFAULT '',
          PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4;
        """;

    public string Plugin => "auth_mysql";

    public string Conf => $"auth.mysql.server = {Address}\nauth.mysql.username = {User}\nauth.mysql.password = {UserPassword}\n";

    public string SaltConf => "auth.mysql.auth_query = select password, salt from mqtt_user where username = '%u' limit 1\n";

    public Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false) =>
        SqlAsync($"insert into mqtt_user (username, password, salt, is_superuser) values ({Literal(user)}, {Literal(stored)}, {Literal(salt)}, {(superuser ? 1 : 0)}) "
            + "on duplicate key update password = values(password), salt = values(salt), is_superuser = values(is_superuser)");

    /// <summary>Empties both tables; TRUNCATE also restarts the ids the ACL query orders by.</summary>
    public Task ResetAsync() => SqlAsync("truncate table mqtt_user; truncate table mqtt_acl;");

    public Task AllowAsync(string user, string topic, int access) =>
        SqlAsync($"insert into mqtt_acl (allow, username, access, topic) values (1, {Literal(user)}, {access}, {Literal(topic)})");

    /// <summary>An SQL literal for test data (the tests' own seeding; the plugin never builds SQL from values).</summary>
    public static string Literal(string? value) => value is null ? "NULL" : "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    public async Task StartProcessAsync()
    {
        _process = ChildProcess.Start(Tools.Require("mariadbd", "mariadb-server"),
        [
            "--no-defaults", "--user=mysql", $"--datadir={Path.Combine(_directory, "data")}", $"--socket={Socket}",
            $"--port={Port.ToString(CultureInfo.InvariantCulture)}", "--bind-address=127.0.0.1", $"--pid-file={Path.Combine(_directory, "my.pid")}",
            "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--skip-name-resolve",
        ], stderrIsOutput: true);
        await _process.WaitForLineAsync(l => l.Contains("ready for connections", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "mariadbd ready");
    }

    public async Task KillAsync() => _process = await Backends.KillAsync(_process, TimeSpan.FromSeconds(20));

    /// <summary>Runs SQL in the <c>mqtt</c> database as root (over the socket) and returns the tab-separated output.</summary>
    public Task<string> SqlAsync(string sql) => RootSqlAsync("use mqtt; " + sql);

    private Task<string> RootSqlAsync(string sql) =>
        Backends.RunAsync(Tools.Require("mariadb", "mariadb-client"), ["--no-defaults", "-u", "root", $"--socket={Socket}", "-N", "-B", "-e", sql]);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
