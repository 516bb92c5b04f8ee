using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;
using MongoDB.Bson;
using MongoDB.Driver;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// The MongoDB wire-protocol test double of ../shared/DESIGN.md §9 (CongoDB, in memory, installed under
/// tests/mongo-test-server by scripts/test.sh), on a free port. It is not MongoDB: it answers the official driver's
/// finds, inserts and upserts, which is all auth_mongo does. Killed and started again on the same port (empty again).
/// </summary>
public sealed class MongoTestServer : IAuthBackendServer
{
    private ChildProcess? _process;

    private MongoTestServer(int port) => Port = port;

    public int Port { get; }

    public string Address => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public string Plugin => "auth_mongo";

    public string Conf => $"auth.mongo.server = {Address}\n";

    public string SaltConf => "auth.mongo.auth_query.password_field = password,salt\n";

    public IMongoDatabase Database => new MongoClient($"mongodb://{Address}/?directConnection=true").GetDatabase("mqtt");

    public static async Task<MongoTestServer> StartAsync()
    {
        var server = NotStarted();
        await server.StartProcessAsync();
        return server;
    }

    public static MongoTestServer NotStarted() => new(FreePorts.Next());

    public async Task StartProcessAsync()
    {
        var directory = Path.Combine(Tools.RepoRoot, "tests", "mongo-test-server");
        if (!File.Exists(Path.Combine(directory, "node_modules", "@push.rocks", "smartmongo", "dist_ts", "congodb", "index.js")))
            Assert.Fail($"the MongoDB test server (CongoDB from @push.rocks/smartmongo 2.2.0) is not installed in {directory}: scripts/test.sh installs it");
        _process = ChildProcess.Start(Tools.Require("node", "nodejs"), ["server.mjs", Port.ToString(CultureInfo.InvariantCulture)], workingDirectory: directory);
        await _process.WaitForLineAsync(l => l.StartsWith("congo ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the MongoDB test server ready");
    }

    public async Task KillAsync() => _process = await Backends.KillAsync(_process);

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, answers stop: a hung server.</summary>
    public void Freeze(bool frozen) => _process!.Signal(frozen ? "STOP" : "CONT");

    public Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false)
    {
        var document = new BsonDocument { ["username"] = user, ["password"] = stored, ["is_superuser"] = superuser };
        if (salt is not null)
            document["salt"] = salt;
        return Database.GetCollection<BsonDocument>("mqtt_user").ReplaceOneAsync(
            new BsonDocument("username", user), document, new ReplaceOptions { IsUpsert = true });
    }

    public Task ResetAsync() => Database.Client.DropDatabaseAsync("mqtt");

    public Task AllowAsync(string user, string topic, int access) =>
        Database.GetCollection<BsonDocument>("mqtt_acl").InsertOneAsync(new BsonDocument
        {
            ["username"] = user,
            [access switch { 1 => "subscribe", 2 => "publish", _ => "pubsub" }] = new BsonArray { topic },
        });

    public async ValueTask DisposeAsync() => await KillAsync();
}
