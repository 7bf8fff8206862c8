//! Cursors of the id-ordered lists (projects, agents, sessions) are
//! positions: ids are time-ordered, so a cursor naming an item that was
//! deleted (or never stored) still says where the page starts, and a client
//! paging through a list while someone deletes from it does not break.
//! (A message cursor must name a message of the session: see `pagination`.)

use std::sync::Arc;

use super::fixtures::{insert_user, project};
use crate::domain::{Order, PageRequest, ProjectId};
use crate::store::Store;

/// A cursor naming a deleted project pages from its position; one past
/// every id gives an empty page.
pub async fn a_cursor_naming_no_stored_item_pages_from_its_position(store: Arc<dyn Store>) {
    let owner = insert_user(store.as_ref()).await;
    let projects: Vec<_> = (0..3).map(|_| project(&owner.id)).collect();
    for p in &projects {
        store
            .insert_project(p)
            .await
            .expect("insert_project must succeed");
    }
    assert!(
        store
            .delete_project(&owner.id, &projects[1].id)
            .await
            .expect("delete_project must succeed"),
        "the middle project is deleted"
    );
    let page = |after: Option<ProjectId>, before: Option<ProjectId>, order| PageRequest {
        limit: 10,
        order,
        after,
        before,
    };

    let after_deleted = store
        .projects(&owner.id, &page(Some(projects[1].id), None, Order::Asc))
        .await
        .expect("a cursor naming a deleted project must be accepted");
    let before_deleted = store
        .projects(&owner.id, &page(None, Some(projects[1].id), Order::Asc))
        .await
        .expect("a cursor naming a deleted project must be accepted");
    let past_the_end = store
        .projects(&owner.id, &page(Some(ProjectId::new()), None, Order::Asc))
        .await
        .expect("a cursor naming a project never stored must be accepted");

    let ids = |p: &crate::domain::Page<crate::domain::Project>| {
        p.data.iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&after_deleted),
        vec![projects[2].id],
        "after a deleted project: the projects after its position"
    );
    assert_eq!(
        ids(&before_deleted),
        vec![projects[0].id],
        "before a deleted project: the projects before its position"
    );
    assert!(
        past_the_end.data.is_empty() && !past_the_end.has_more,
        "after a cursor newer than every project: an empty page"
    );
}
