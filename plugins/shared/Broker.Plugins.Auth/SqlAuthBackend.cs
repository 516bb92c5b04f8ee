using System.Data.Common;
using System.Net.Sockets;

namespace Broker.Plugins.Auth;

/// <summary>
/// EMQX 4's auth_query, super_query and acl_query over any ADO.NET driver (MySqlConnector, Npgsql): placeholders are
/// command parameters (<see cref="SqlTemplate"/>), never SQL text.
/// </summary>
/// <remarks>
/// Columns are read by name as EMQX names them, else by position: the auth query's <c>password</c> (else the first
/// column) and <c>salt</c> (else a second column, if any); the superuser query's first column (1, true, '1', 'true');
/// the ACL query's <c>allow</c> (1 allow, 0 deny), <c>ipaddr</c>, <c>username</c>, <c>clientid</c>, <c>access</c> (1
/// subscribe, 2 publish, 3 both) and <c>topic</c>.
/// </remarks>
public sealed class SqlAuthBackend : IAuthBackend
{
    private readonly DbDataSource _source;
    private readonly SqlTemplate? _auth;
    private readonly SqlTemplate? _super;
    private readonly SqlTemplate? _acl;

    /// <summary>Prepares the three queries (an empty one is not configured).</summary>
    /// <exception cref="FormatException">A query has an unclosed quote.</exception>
    public SqlAuthBackend(string name, DbDataSource source, string authQuery, string superQuery, string aclQuery)
    {
        Name = name;
        _source = source;
        _auth = Template(authQuery);
        _super = Template(superQuery);
        _acl = Template(aclQuery);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public bool HasAuthQuery => _auth is not null;

    /// <inheritdoc />
    public bool HasSuperQuery => _super is not null;

    /// <inheritdoc />
    public bool HasAclQuery => _acl is not null;

    private static SqlTemplate? Template(string query) => string.IsNullOrWhiteSpace(query) ? null : SqlTemplate.Parse(query);

    /// <inheritdoc />
    public async Task<StoredCredentials?> FindCredentialsAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        await using var command = Command(_auth!, client);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        var password = Ordinal(reader, "password") ?? 0;
        var salt = Ordinal(reader, "salt") ?? (reader.FieldCount > 1 && password == 0 ? 1 : null);
        return new StoredCredentials(Text(reader, password), salt is { } s ? Text(reader, s) : null);
    }

    /// <inheritdoc />
    public async Task<bool> IsSuperuserAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        await using var command = Command(_super!, client);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && IsTrue(reader.GetValue(0));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AclRule>> LoadAclAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        await using var command = Command(_acl!, client);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        int? allow = Ordinal(reader, "allow"), ip = Ordinal(reader, "ipaddr"), user = Ordinal(reader, "username"),
            clientId = Ordinal(reader, "clientid"), access = Ordinal(reader, "access"), topic = Ordinal(reader, "topic");
        if (allow is null || access is null || topic is null)
            throw new InvalidOperationException("the ACL query must return the columns allow, access and topic (and ipaddr, username, clientid to say whom a row is about)");
        var rules = new List<AclRule>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (Text(reader, topic.Value) is not { Length: > 0 } filter)
                continue;
            var accessValue = reader.IsDBNull(access.Value) ? 0 : Convert.ToInt32(reader.GetValue(access.Value), System.Globalization.CultureInfo.InvariantCulture);
            rules.Add(new AclRule
            {
                Allow = IsTrue(reader.GetValue(allow.Value)),
                Access = accessValue is >= 1 and <= 3 ? (AclAccess)accessValue : AclAccess.None,
                Topic = filter,
                IpAddress = ip is { } i ? Text(reader, i) : null,
                Username = user is { } u ? Text(reader, u) : null,
                ClientId = clientId is { } c ? Text(reader, c) : null,
            });
        }
        return rules;
    }

    /// <inheritdoc />
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand("select 1");
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public bool IsUnreachable(Exception exception) =>
        exception is DbException { IsTransient: true } || exception.InnerException is SocketException or IOException || exception is SocketException;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _source.DisposeAsync();

    private DbCommand Command(SqlTemplate template, ClientInfo client)
    {
        var command = _source.CreateCommand(template.Text);
        var values = template.Values(client);
        for (var i = 0; i < values.Length; i++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            parameter.Value = values[i] ?? (object)DBNull.Value;
            parameter.DbType = System.Data.DbType.String;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    private static int? Ordinal(DbDataReader reader, string column)
    {
        for (var i = 0; i < reader.FieldCount; i++)
        {
            if (string.Equals(reader.GetName(i), column, StringComparison.OrdinalIgnoreCase))
                return i;
        }
        return null;
    }

    private static string? Text(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetValue(ordinal) switch
    {
        string s => s,
        byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
        var other => Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static bool IsTrue(object value) => value switch
    {
        bool b => b,
        DBNull => false,
        string s => s is "1" or "true" or "t",
        byte[] bytes => bytes is [1] or [(byte)'1'],
        var number => Convert.ToInt64(number, System.Globalization.CultureInfo.InvariantCulture) != 0,
    };
}
