using Broker.Plugins.Auth;
using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Servers;

namespace Broker.Plugins.AuthMongo;

/// <summary>EMQX 4's auth, superuser and ACL queries as MongoDB finds.</summary>
internal sealed class MongoAuthBackend : IAuthBackend
{
    private readonly MongoClient _client;
    private readonly IMongoDatabase _database;
    private readonly AuthMongoOptions _options;
    private readonly MongoSelector _authSelector;
    private readonly MongoSelector _superSelector;
    private readonly MongoSelector[] _aclSelectors;
    private readonly string _passwordField;
    private readonly string? _saltField;

    public MongoAuthBackend(AuthMongoOptions options, TlsSettings? tls)
    {
        _options = options;
        var settings = new MongoClientSettings
        {
            Servers = options.Server.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(s => HostPort.Parse(s, 27017, "auth.mongo.server"))
                .Select(hp => new MongoServerAddress(hp.Host, hp.Port)),
            MaxConnectionPoolSize = options.Connection.Pool,
            // A server that is not there is known before query_timeout: the outage is reported as such, at once.
            ServerSelectionTimeout = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, options.Connection.QueryTimeout.Ticks / 2)),
            ConnectTimeout = options.Connection.QueryTimeout,
            ApplicationName = "broker-auth_mongo",
            // Poll the servers every heartbeat instead of streaming hello: an auth plugin needs no sub-second topology
            // changes, and a server that answers a streaming hello at once (the test double does) would turn the
            // streaming monitor into a busy loop.
            ServerMonitoringMode = ServerMonitoringMode.Poll,
            // This instance's own cluster (see ConfigureCluster).
            ClusterConfigurator = ConfigureCluster,
        };
        if (options.Type == MongoType.Single)
            settings.DirectConnection = true;
        if (options.Type == MongoType.Rs)
            settings.ReplicaSetName = options.RsSetName;
        if (options.Connection.Username.Length > 0)
            settings.Credential = MongoCredential.CreateCredential(options.AuthSource, options.Connection.Username, options.Connection.Password);
        if (tls is not null)
        {
            settings.UseTls = true;
            settings.SslSettings = new SslSettings
            {
                ServerCertificateValidationCallback = tls.ValidateServer,
                ClientCertificates = tls.ClientCertificate is { } certificate ? [certificate] : [],
            };
        }
        _client = new MongoClient(settings);
        _database = _client.GetDatabase(options.Connection.Database);
        _authSelector = MongoSelector.Parse(options.AuthSelector);
        _superSelector = MongoSelector.Parse(options.SuperSelector);
        _aclSelectors = [.. options.AclSelectors.Select(MongoSelector.Parse)];
        var fields = options.PasswordField.Split(',', StringSplitOptions.TrimEntries);
        _passwordField = fields[0];
        _saltField = fields.Length > 1 ? fields[1] : null;
    }

    public string Name => "MongoDB";

    public bool HasAuthQuery => _options.AuthCollection.Length > 0;

    public bool HasSuperQuery => _options.SuperCollection.Length > 0;

    public bool HasAclQuery => _options.AclCollection.Length > 0 && _aclSelectors.Length > 0;

    public async Task<StoredCredentials?> FindCredentialsAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var document = await _database.GetCollection<BsonDocument>(_options.AuthCollection)
            .Find(_authSelector.Filter(client)).Limit(1).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (document is null)
            return null;
        return new StoredCredentials(Text(document, _passwordField), _saltField is null ? null : Text(document, _saltField));
    }

    public async Task<bool> IsSuperuserAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var document = await _database.GetCollection<BsonDocument>(_options.SuperCollection)
            .Find(_superSelector.Filter(client)).Limit(1).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (document is null || !document.TryGetValue(_options.SuperField, out var value))
            return false;
        return value.BsonType switch
        {
            BsonType.Boolean => value.AsBoolean,
            BsonType.Int32 or BsonType.Int64 or BsonType.Double => value.ToDouble() != 0,
            BsonType.String => value.AsString is "1" or "true",
            _ => false,
        };
    }

    public async Task<IReadOnlyList<AclRule>> LoadAclAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var collection = _database.GetCollection<BsonDocument>(_options.AclCollection);
        var rules = new List<AclRule>();
        foreach (var selector in _aclSelectors)
        {
            var documents = await collection.Find(selector.Filter(client)).ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var document in documents)
            {
                Add(document, "publish", AclAccess.Publish);
                Add(document, "subscribe", AclAccess.Subscribe);
                Add(document, "pubsub", AclAccess.PubSub);
            }
        }
        return rules;

        void Add(BsonDocument document, string field, AclAccess access)
        {
            if (!document.TryGetValue(field, out var value))
                return;
            var topics = value.IsBsonArray ? value.AsBsonArray.Where(t => t.IsString).Select(t => t.AsString) : value.IsString ? [value.AsString] : [];
            foreach (var topic in topics)
            {
                if (topic.Length > 0)
                    rules.Add(new AclRule { Allow = true, Access = access, Topic = topic });
            }
        }
    }

    public Task PingAsync(CancellationToken cancellationToken) =>
        _database.RunCommandAsync((Command<BsonDocument>)"{ ping: 1 }", cancellationToken: cancellationToken);

    public bool IsUnreachable(Exception exception) => exception is MongoConnectionException or TimeoutException;

    public ValueTask DisposeAsync()
    {
        // The cluster's monitor and pool-maintenance threads must end with the plugin, or they keep its unloaded code
        // in memory: unregister and dispose the cluster explicitly, then the client.
        ClusterRegistry.Instance.UnregisterAndDisposeCluster(_client.Cluster);
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Nothing to configure: what matters is that this delegate is this instance's. The driver is loaded once for the
    /// broker (a shared package) and its ClusterRegistry is process-wide: a client whose settings equal another's gets
    /// that one's cluster, and the registry compares the configurator by reference. In a reload the new instance
    /// starts before the old one stops, and the old one disposes its cluster at stop (it must, or the cluster's
    /// threads outlive the plugin): with one shared cluster, the new instance would be left with a disposed one.
    /// </summary>
    private void ConfigureCluster(MongoDB.Driver.Core.Configuration.ClusterBuilder builder)
    {
    }

    private static string? Text(BsonDocument document, string field) =>
        document.TryGetValue(field, out var value) && !value.IsBsonNull ? (value.IsString ? value.AsString : value.ToString()) : null;
}
