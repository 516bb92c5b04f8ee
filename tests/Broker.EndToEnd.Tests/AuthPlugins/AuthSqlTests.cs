using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>What both SQL plugins must show beyond the common tests: EMQX's ACL rows.</summary>
public abstract class AuthSqlTests<TServer>(SharedBackend<TServer> shared) : AuthBackendTests<TServer>(shared)
    where TServer : IAuthBackendServer, ISqlServer
{
    // SQL rows in EMQX's shape: deny rows, $all, clientid and ipaddr rows, eq topics, placeholders; first matching row
    // in the query's order decides (order by id here).
    [Fact]
    public async Task AclRows_AllowDenyWhoAndOrder()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", Sha256Hex("secret"));
        await server.AddUserAsync("root", Sha256Hex("r-pass"), superuser: true);
        await server.SqlAsync("""
            insert into mqtt_acl (allow, ipaddr, username, clientid, access, topic) values
              (0, NULL, 'alice', NULL, 1, 'secret/#'),
              (1, NULL, '$all', NULL, 1, 'public/#'),
              (1, NULL, NULL, 'dev-9', 3, 'devices/%c/#'),
              (1, '127.0.0.1', NULL, NULL, 1, 'local/#'),
              (1, '10.0.0.0/8', NULL, NULL, 1, 'remote/#'),
              (1, NULL, 'alice', NULL, 1, 'eq exact/#'),
              (1, NULL, 'alice', NULL, 1, '#');
            """);
        await using var broker = await StartBrokerAsync(server, $"auth.{PluginKey(server)}.acl_query = select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c' or ipaddr like '%/%' order by id\n");

        // "#" is allowed but partly denied (secret/#): granted, with secret/... deliveries withheld.
        Assert.Equal([0x80, 0x01, 0x01, 0x01, 0x01], await Backends.SubackAsync(broker, "alice", "secret", "secret/x", "public/x", "local/x", "exact/#", "#"));
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-u", "alice", "-P", "secret", "-t", "#", "-q", "1", "-V", "mqttv311");
        foreach (var (topic, payload) in new[] { ("secret/x", "hidden"), ("public/x", "shown") })
            await MosquittoClients.PublishAsync(broker, ["-u", "root", "-P", "r-pass", "-t", topic, "-m", payload, "-q", "1", "-V", "mqttv311"]);
        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal(("public/x", "shown"), (message.Topic, message.Payload));
    }
}

/// <summary>A test SQL server: runs SQL in its <c>mqtt</c> database.</summary>
public interface ISqlServer
{
    Task<string> SqlAsync(string sql);
}

/// <summary>auth_pgsql (issue 20) against a private PostgreSQL 15 with EMQX 4's tables.</summary>
public sealed class AuthPgsqlTests(SharedBackend<PostgresServer> shared) : AuthSqlTests<PostgresServer>(shared)
{
    protected override Task<PostgresServer> StartServerAsync() => PostgresServer.StartAsync();

    protected override async Task<PostgresServer> NotStartedServerAsync()
    {
        var server = await PostgresServer.StartAsync();
        await server.KillAsync();
        return server;
    }

    protected override string DefaultStored(string password) => Sha256Hex(password); // auth.pgsql.password_hash = sha256

    // The SQL keys are one shared options class bound under auth.pgsql (and auth.mysql): a bad value in the operator's
    // file is still named by that file, its line and the full key, at start-up, and the broker serves on without the plugin.
    [Fact]
    public async Task BadValuesAtStart_NamedByFileLineAndFullKey_PluginFailed_BrokerServes()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.LoadedPlugins.Add("auth_pgsql");
            o.PluginConf["auth_pgsql"] = "auth.pgsql.server = 127.0.0.1:1\nauth.pgsql.query_timeout = 1 fortnight\n# a comment\nauth.pgsql.pool = 0\n";
        });

        await broker.WaitForLogAsync(l => l.Contains("Plugin auth_pgsql failed", StringComparison.Ordinal), "auth_pgsql's failure");
        await broker.WaitForLogAsync(l => l.Contains("auth_pgsql.conf:2: auth.pgsql.query_timeout = \"1 fortnight\": expected", StringComparison.Ordinal), "the bad duration");
        await broker.WaitForLogAsync(l => l.Contains("auth_pgsql.conf:4: auth.pgsql.pool = \"0\": must be at least 1", StringComparison.Ordinal), "the bad pool");
        Assert.Matches(@"(?m)^auth_pgsql\s+\S+\s+failed\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, null, null));
    }

    // query_timeout cancels the query on the server (Npgsql sends PostgreSQL a cancel request): the CONNECT is refused
    // with Server Unavailable at the timeout and no pg_sleep is left running.
    [Fact]
    public async Task QueryTimeout_SlowQuery_RefusedAndCancelledOnTheServer()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", Sha256Hex("secret"));
        await using var broker = await StartBrokerAsync(server,
            "auth.pgsql.query_timeout = 1s\nauth.pgsql.auth_query = select password from mqtt_user, pg_sleep(8) where username = '%u'\n");

        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(6));
        await SqlWaits.UntilAsync(() => server.SqlAsync("select count(*) from pg_stat_activity where query like '%pg_sleep(8)%' and state = 'active' and pid <> pg_backend_pid()"), "0");
    }
}

/// <summary>auth_mysql (issue 20) against a private MariaDB with EMQX 4's tables.</summary>
public sealed class AuthMysqlTests(SharedBackend<MariaDbServer> shared) : AuthSqlTests<MariaDbServer>(shared)
{
    protected override Task<MariaDbServer> StartServerAsync() => MariaDbServer.StartAsync();

    protected override async Task<MariaDbServer> NotStartedServerAsync()
    {
        var server = await MariaDbServer.StartAsync();
        await server.KillAsync();
        return server;
    }

    protected override string DefaultStored(string password) => Sha256Hex(password); // auth.mysql.password_hash = sha256

    // query_timeout cancels the query on the server (MySqlConnector sends KILL QUERY): refused at the timeout, and
    // no SLEEP is left running.
    [Fact]
    public async Task QueryTimeout_SlowQuery_RefusedAndCancelledOnTheServer()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", Sha256Hex("secret"));
        await using var broker = await StartBrokerAsync(server,
            "auth.mysql.query_timeout = 1s\nauth.mysql.auth_query = select password from mqtt_user where username = '%u' and sleep(8) = 0 limit 1\n");

        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(6));
        await SqlWaits.UntilAsync(() => server.SqlAsync("select count(*) from information_schema.processlist where info like '%sleep(8)%' and id <> connection_id()"), "0");
    }
}

/// <summary>Polls an SQL count until it is what the test waits for (a server-side effect has no event to wait on).</summary>
public static class SqlWaits
{
    public static async Task UntilAsync(Func<Task<string>> query, string expected)
    {
        var started = TimeProvider.System.GetTimestamp();
        string actual;
        while ((actual = (await query()).Trim()) != expected && TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(5))
            await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Equal(expected, actual);
    }
}
