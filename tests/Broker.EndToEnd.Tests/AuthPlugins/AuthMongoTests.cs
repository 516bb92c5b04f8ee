using Broker.EndToEnd.Tests.Infrastructure;
using MongoDB.Bson;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// auth_mongo (issue 20) against the MongoDB wire-protocol test double (no MongoDB server can be installed here; the
/// plugin uses the official driver unchanged, as it would against MongoDB).
/// </summary>
public sealed class AuthMongoTests(SharedBackend<MongoTestServer> shared) : AuthBackendTests<MongoTestServer>(shared)
{
    protected override Task<MongoTestServer> StartServerAsync() => MongoTestServer.StartAsync();

    protected override Task<MongoTestServer> NotStartedServerAsync() => Task.FromResult(MongoTestServer.NotStarted());

    protected override string DefaultStored(string password) => Sha256Hex(password); // auth.mongo.auth_query.password_hash = sha256

    // query_timeout with a server that accepts but never answers (frozen): refused with Server Unavailable at the
    // timeout; answered again once it thaws.
    [Fact]
    public async Task QueryTimeout_HungServer_RefusedAtTheTimeout()
    {
        await using var server = await MongoTestServer.StartAsync();
        await HungServer_RefusedAtTheTimeoutAsync(server, server.Freeze);
    }

    // EMQX's ACL documents: publish / subscribe / pubsub arrays, from each selector in turn (username=%u, then a
    // numbered selector for everyone's rules).
    [Fact]
    public async Task AclDocuments_ArraysAndNumberedSelectors()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", Sha256Hex("secret"));
        var acl = server.Database.GetCollection<BsonDocument>("mqtt_acl");
        await acl.InsertOneAsync(new BsonDocument
        {
            ["username"] = "alice",
            ["publish"] = new BsonArray { "up/alice" },
            ["subscribe"] = new BsonArray { "down/alice/#" },
            ["pubsub"] = new BsonArray { "chat/%u/#" },
        }, cancellationToken: TestContext.Current.CancellationToken);
        await acl.InsertOneAsync(new BsonDocument { ["username"] = "$all", ["subscribe"] = new BsonArray { "news/#" } },
            cancellationToken: TestContext.Current.CancellationToken);
        await using var broker = await StartBrokerAsync(server, "auth.mongo.acl_query.selector.1 = username=$all\n");

        Assert.Equal([0x80, 0x01, 0x01, 0x80, 0x01], await Backends.SubackAsync(broker, "alice", "secret", "up/alice", "down/alice/x", "chat/alice/x", "chat/bob/x", "news/today"));
    }
}
