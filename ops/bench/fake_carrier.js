// ops/bench/fake_carrier.js - nginx's JavaScript (njs) answers of a fast fake
// carrier for ops/bench/dispatch: Africa's Talking lists every number of the
// request's comma-separated "to" as sent (statusCode 101, a messageId each);
// Twilio answers 201 with a message sid. Nothing is stored.

function formField(body, name) {
    var parts = body.split('&');
    for (var i = 0; i < parts.length; i++) {
        var eq = parts[i].indexOf('=');
        if (eq > 0 && parts[i].slice(0, eq) === name)
            return decodeURIComponent(parts[i].slice(eq + 1).replace(/\+/g, ' '));
    }
    return '';
}

function africastalking(r) {
    var to = formField(r.requestText || '', 'to');
    var numbers = to.split(',').filter(function (n) { return n.length > 0; });
    var recipients = numbers.map(function (n, i) {
        return {statusCode: 101, number: n, status: 'Success', cost: 'KES 0.8000',
                messageId: 'ATXid_' + r.variables.request_id + '_' + i};
    });
    r.headersOut['Content-Type'] = 'application/json';
    r.return(201, JSON.stringify({SMSMessageData: {
        Message: 'Sent to ' + numbers.length + '/' + numbers.length + ' Total Cost: KES 0.8000',
        Recipients: recipients}}));
}

function twilio(r) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(201, JSON.stringify({sid: 'SM' + r.variables.request_id, status: 'queued'}));
}

export default {africastalking, twilio};
