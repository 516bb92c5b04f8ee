using Broker.Plugins.Auth;
using MongoDB.Bson;
using MongoDB.Driver;

namespace Broker.Plugins.AuthMongo;

/// <summary>
/// EMQX's selector, <c>username=%u, clientid=%c</c>: an equality filter on each field, the values rendered from the
/// client and passed to the driver as BSON strings, so <c>{"$ne": null}</c> as a user name is a string, not an operator.
/// </summary>
internal sealed class MongoSelector
{
    private readonly (string Field, Placeholders Value)[] _fields;

    private MongoSelector((string, Placeholders)[] fields) => _fields = fields;

    /// <exception cref="FormatException">Not field=value pairs.</exception>
    public static MongoSelector Parse(string text)
    {
        var fields = new List<(string, Placeholders)>();
        foreach (var pair in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
                throw new FormatException($"'{pair}' is not field=value (e.g. username=%u)");
            fields.Add((pair[..equals].Trim(), Placeholders.Parse(pair[(equals + 1)..].Trim())));
        }
        if (fields.Count == 0)
            throw new FormatException("an empty selector would match every document: write field=value pairs (e.g. username=%u)");
        return new MongoSelector([.. fields]);
    }

    public FilterDefinition<BsonDocument> Filter(ClientInfo client)
    {
        var document = new BsonDocument();
        foreach (var (field, value) in _fields)
            document[field] = new BsonString(value.Render(client));
        return new BsonDocumentFilterDefinition<BsonDocument>(document);
    }
}
